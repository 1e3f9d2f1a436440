//! The tenant layer across configuration reloads: which authenticated sessions stay valid.
//!
//! Invariant: a session authenticated under policy generation `g` is valid under a later policy
//! iff the user it authenticated as still exists there and its password and prefix have not
//! changed since `g` (for every reload in between, not only the last). Checked once per session
//! per reload (a generation compare per command otherwise).

use std::sync::atomic::{AtomicU64, Ordering};

use super::auth::{AuthConfig, Secret, TenantConfig};
use super::tenant::TenantPolicy;
use super::PolicySession;

/// Generations are unique in the process (0 is "never confirmed").
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

pub(super) fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// For each credential of an [`AuthConfig`], the generation since which it is unchanged.
pub(super) struct Since {
    /// One per `auth.tenants`, in the same order.
    tenants: Vec<u64>,
    /// The default user's password (`[auth] password`).
    default: u64,
}

impl Since {
    /// Every credential new at `generation`.
    pub(super) fn fresh(auth: &AuthConfig, generation: u64) -> Since {
        Since {
            tenants: vec![generation; auth.tenants.len()],
            default: generation,
        }
    }
}

fn same_secret(a: &Option<Secret>, b: &Option<Secret>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.same_as(b),
        _ => false,
    }
}

fn same_tenant(a: &TenantConfig, b: &TenantConfig) -> bool {
    a.user == b.user && a.prefix == b.prefix && a.password.same_as(&b.password)
}

impl TenantPolicy {
    /// The layer for `auth` after a reload from this one: unchanged credentials keep their
    /// sessions, changed or removed ones sign them out (see the module doc).
    pub fn reloaded(&self, auth: AuthConfig) -> TenantPolicy {
        let generation = next_generation();
        let tenants = auth
            .tenants
            .iter()
            .map(|t| {
                self.auth
                    .tenants
                    .iter()
                    .position(|old| same_tenant(old, t))
                    .map_or(generation, |i| self.since.tenants[i])
            })
            .collect();
        let default = if same_secret(&self.auth.password, &auth.password) {
            self.since.default
        } else {
            generation
        };
        TenantPolicy {
            pushes: self.pushes || !auth.tenants.is_empty(),
            since: Since { tenants, default },
            auth,
            generation,
        }
    }

    /// Whether `session`'s credentials are still in force; if so, records that this policy
    /// confirmed them (so the check is not repeated).
    pub(super) fn still_valid(&self, session: &mut PolicySession) -> bool {
        let at = session.auth_generation;
        let valid = match &session.tenant {
            Some(user) => self
                .auth
                .tenants
                .iter()
                .position(|t| t.user == *user)
                .is_some_and(|i| {
                    self.since.tenants[i] <= at
                        && session.prefix.as_ref() == Some(&self.auth.tenants[i].prefix)
                }),
            None => {
                !self.auth.required() || (self.auth.password.is_some() && self.since.default <= at)
            }
        };
        if valid {
            session.auth_generation = self.generation;
        }
        valid
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::command::Command;
    use crate::policy::Policy;
    use crate::protocol::Reply;

    fn auth(password: Option<&str>, tenants: &[(&str, &str, &str)]) -> AuthConfig {
        AuthConfig {
            password: password.map(Secret::new),
            tenants: tenants
                .iter()
                .map(|(user, password, prefix)| TenantConfig {
                    user: (*user).into(),
                    password: Secret::new(password),
                    prefix: Bytes::copy_from_slice(prefix.as_bytes()),
                })
                .collect(),
        }
    }

    fn run(p: &TenantPolicy, s: &mut PolicySession, args: &[&str]) -> Result<Vec<String>, String> {
        let mut cmd = Command::from_strs(args);
        match p.request(s, &mut cmd) {
            Ok(_) => Ok(cmd
                .args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()),
            Err(Reply::Error(e)) => Err(String::from_utf8_lossy(&e).into_owned()),
            Err(other) => Err(format!("{other:?}")),
        }
    }

    fn login(p: &TenantPolicy, s: &mut PolicySession, args: &[&str]) {
        let mut cmd = Command::from_strs(args);
        let answer = p.request(s, &mut cmd).unwrap_err();
        assert!(!answer.is_error(), "{answer:?}");
    }

    #[test]
    fn sessions_survive_only_unchanged_credentials() {
        let v1 = TenantPolicy::new(auth(
            Some("root"),
            &[("alice", "a", "ws:alice:"), ("bob", "b", "ws:bob:")],
        ));
        let (mut alice, mut bob, mut admin) = Default::default();
        login(&v1, &mut alice, &["AUTH", "alice", "a"]);
        login(&v1, &mut bob, &["AUTH", "bob", "b"]);
        login(&v1, &mut admin, &["AUTH", "root"]);
        // v2: bob's password changes, carol is new.
        let v2 = v1.reloaded(auth(
            Some("root"),
            &[
                ("alice", "a", "ws:alice:"),
                ("bob", "b2", "ws:bob:"),
                ("carol", "c", "ws:carol:"),
            ],
        ));
        assert_eq!(
            run(&v2, &mut alice, &["GET", "k"]).unwrap(),
            ["GET", "ws:alice:k"]
        );
        let refused = run(&v2, &mut bob, &["GET", "k"]).unwrap_err();
        assert!(
            refused.starts_with("NOAUTH") && refused.contains("reload"),
            "{refused}"
        );
        assert!(!bob.authenticated, "signed out");
        assert_eq!(
            run(&v2, &mut bob, &["GET", "k"]).unwrap_err(),
            "NOAUTH Authentication required."
        );
        login(&v2, &mut bob, &["AUTH", "bob", "b2"]);
        assert_eq!(
            run(&v2, &mut bob, &["GET", "k"]).unwrap(),
            ["GET", "ws:bob:k"]
        );
        let mut carol = PolicySession::default();
        login(&v2, &mut carol, &["AUTH", "carol", "c"]);
        // v3: alice's prefix changes; the admin, idle through v2, is still valid.
        let v3 = v2.reloaded(auth(
            Some("root"),
            &[("alice", "a", "ws:a:"), ("carol", "c", "ws:carol:")],
        ));
        assert!(run(&v3, &mut alice, &["GET", "k"]).is_err());
        assert_eq!(run(&v3, &mut admin, &["GET", "k"]).unwrap(), ["GET", "k"]);
        // A session signed out by a reload may AUTH again on the same command.
        login(&v3, &mut alice, &["AUTH", "alice", "a"]);
        assert_eq!(alice.prefix.as_deref(), Some(&b"ws:a:"[..]));
        // v4: no credentials at all. The layer stays, passes everything through, and a tenant
        // session (carol, idle since v2) cannot go on without its prefix.
        let v4 = v3.reloaded(auth(None, &[]));
        assert!(v4.rewrites_pushes());
        assert!(run(&v4, &mut carol, &["GET", "k"]).is_err());
        assert_eq!(run(&v4, &mut carol, &["GET", "k"]).unwrap(), ["GET", "k"]);
        let mut anyone = PolicySession::default();
        assert_eq!(run(&v4, &mut anyone, &["GET", "k"]).unwrap(), ["GET", "k"]);
    }
}
