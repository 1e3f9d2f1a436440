//! Credentials: the `[auth]` section (a password for the default user, like Redis's
//! `requirepass`) and the `[[tenants]]` array (a user, a password and a key prefix each), their
//! validation, the check of an `AUTH`, and [`redact`] for anything that logs commands.
//!
//! Invariants: a password is held only in a [`Secret`], whose `Debug` prints `<redacted>`, so
//! no log line or error message can carry one; a validated [`AuthConfig`] has unique users and
//! prefixes none of which is a prefix of another's (so no tenant's key space contains another's).

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use crate::command::Command;

/// `[auth]` as written in the file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    password: Option<String>,
    password_env: Option<String>,
}

/// One `[[tenants]]` entry as written in the file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSection {
    user: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    prefix: Option<String>,
}

/// A password. Never printed: `Debug` shows `<redacted>`.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    pub fn new(text: &str) -> Secret {
        Secret(Arc::from(text.as_bytes()))
    }

    /// Whether `other` is the same password (compared as [`Secret::matches`] does).
    pub fn same_as(&self, other: &Secret) -> bool {
        self.matches(&other.0)
    }

    /// Compares with `given` in time that depends only on the lengths.
    pub fn matches(&self, given: &[u8]) -> bool {
        self.0.len() == given.len()
            && self
                .0
                .iter()
                .zip(given)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A validated tenant.
#[derive(Clone, Debug)]
pub struct TenantConfig {
    pub user: Arc<str>,
    pub password: Secret,
    /// Prepended to every key and channel the tenant names; never empty.
    pub prefix: Bytes,
}

/// Who may connect. Empty (no password, no tenants) means everyone, as without the sidecar.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// The default user's password (`AUTH password` or `AUTH default password`).
    pub password: Option<Secret>,
    pub tenants: Vec<TenantConfig>,
}

impl AuthConfig {
    /// Whether clients must authenticate.
    pub fn required(&self) -> bool {
        self.password.is_some() || !self.tenants.is_empty()
    }

    /// Validates the file's sections, reading `password_env` variables through `env`; every
    /// problem is pushed to `errors`, naming the field.
    pub fn load(
        auth: &AuthSection,
        tenants: &[TenantSection],
        env: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<String>,
    ) -> AuthConfig {
        let password = secret(
            "auth",
            &auth.password,
            &auth.password_env,
            false,
            env,
            errors,
        );
        let mut out: Vec<TenantConfig> = Vec::new();
        for (i, t) in tenants.iter().enumerate() {
            let at = format!("tenants[{i}]");
            let user = match t.user.as_deref() {
                None | Some("") => {
                    errors.push(format!(
                        "{at}.user: missing; every tenant needs a user name"
                    ));
                    None
                }
                Some("default") => {
                    errors.push(format!(
                        "{at}.user: 'default' is reserved for [auth] password; choose another name"
                    ));
                    None
                }
                Some(u) if u.contains(char::is_whitespace) => {
                    errors.push(format!("{at}.user: '{u}' contains whitespace"));
                    None
                }
                Some(u) => Some(u),
            };
            let password = secret(&at, &t.password, &t.password_env, true, env, errors);
            let prefix = match t.prefix.as_deref() {
                None | Some("") => {
                    errors.push(format!(
                        "{at}.prefix: missing or empty; a tenant's keys need a prefix, e.g. \"ws:alice:\""
                    ));
                    None
                }
                Some(p) => Some(p),
            };
            if let Some(u) = user {
                if let Some(j) = tenants[..i]
                    .iter()
                    .position(|o| o.user.as_deref() == Some(u))
                {
                    errors.push(format!("{at}.user: '{u}' is also tenants[{j}].user"));
                }
            }
            if let Some(p) = prefix {
                for (j, other) in tenants[..i].iter().enumerate() {
                    let Some(q) = other.prefix.as_deref().filter(|q| !q.is_empty()) else {
                        continue;
                    };
                    if p.starts_with(q) || q.starts_with(p) {
                        errors.push(format!(
                            "{at}.prefix: '{p}' and tenants[{j}].prefix '{q}' overlap (one starts with the other), so one tenant could reach the other's keys"
                        ));
                    }
                }
            }
            if let (Some(user), Some(password), Some(prefix)) = (user, password, prefix) {
                out.push(TenantConfig {
                    user: Arc::from(user),
                    password,
                    prefix: Bytes::copy_from_slice(prefix.as_bytes()),
                });
            }
        }
        AuthConfig {
            password,
            tenants: out,
        }
    }

    /// Who `user`/`password` authenticate as: `Some(None)` the default user, `Some(Some(t))`
    /// tenant `t`, `None` nobody.
    pub fn check(&self, user: Option<&[u8]>, password: &[u8]) -> Option<Option<&TenantConfig>> {
        match user {
            None => self
                .password
                .as_ref()
                .filter(|p| p.matches(password))
                .map(|_| None),
            Some(u) if u.eq_ignore_ascii_case(b"default") => self
                .password
                .as_ref()
                .filter(|p| p.matches(password))
                .map(|_| None),
            Some(u) => self
                .tenants
                .iter()
                .find(|t| t.user.as_bytes() == u && t.password.matches(password))
                .map(Some),
        }
    }
}

/// A password from `password` or the variable `password_env` names (exactly one of them).
fn secret(
    at: &str,
    password: &Option<String>,
    password_env: &Option<String>,
    required: bool,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) -> Option<Secret> {
    match (password, password_env) {
        (Some(_), Some(_)) => {
            errors.push(format!(
                "{at}: both password and password_env are set; keep one"
            ));
            None
        }
        (Some(p), None) if p.is_empty() => {
            errors.push(format!("{at}.password: empty; set a password"));
            None
        }
        (Some(p), None) => Some(Secret::new(p)),
        (None, Some(var)) => match env(var) {
            Some(p) if !p.is_empty() => Some(Secret::new(&p)),
            _ => {
                errors.push(format!(
                    "{at}.password_env: the variable {var} is not set or empty"
                ));
                None
            }
        },
        (None, None) if required => {
            errors.push(format!("{at}: missing password (or password_env)"));
            None
        }
        (None, None) => None,
    }
}

/// `cmd` as text for logs, with credentials replaced by `<redacted>`: the arguments of AUTH,
/// the AUTH part of HELLO, MIGRATE's AUTH/AUTH2, and CONFIG SET/ACL SETUSER values. Anything
/// that logs commands (the slow log) must log them through this.
pub fn redact(cmd: &Command) -> Vec<String> {
    let secret = crate::command::secrets::secret_args(&cmd.args);
    cmd.args
        .iter()
        .zip(secret)
        .map(|(arg, secret)| match secret {
            true => "<redacted>".to_string(),
            false => String::from_utf8_lossy(arg).into_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml_text: &str, env: &[(&str, &str)]) -> Result<AuthConfig, Vec<String>> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            auth: AuthSection,
            #[serde(default)]
            tenants: Vec<TenantSection>,
        }
        let file: File = toml::from_str(toml_text).unwrap();
        let env = |k: &str| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let mut errors = Vec::new();
        let config = AuthConfig::load(&file.auth, &file.tenants, &env, &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn checks_tenants_and_the_default_user() {
        let c = load(
            "[auth]\npassword = \"root\"\n[[tenants]]\nuser = \"alice\"\npassword_env = \"ALICE\"\nprefix = \"ws:alice:\"",
            &[("ALICE", "s3cret")],
        )
        .unwrap();
        assert!(c.required());
        let alice = c.check(Some(b"alice"), b"s3cret").unwrap().unwrap();
        assert_eq!(&alice.prefix[..], b"ws:alice:");
        assert!(c.check(Some(b"alice"), b"root").is_none());
        assert!(c.check(None, b"root").unwrap().is_none());
        assert!(c.check(Some(b"default"), b"root").unwrap().is_none());
        assert!(c.check(None, b"s3cret").is_none());
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn reports_every_invalid_tenant_field_at_once() {
        let errors = load(
            r#"
            [[tenants]]
            user = "alice"
            password = "a"
            prefix = "ws:"
            [[tenants]]
            user = "alice"
            prefix = "ws:bob:"
            [[tenants]]
            user = "carol"
            password_env = "NOPE"
            prefix = ""
            "#,
            &[],
        )
        .unwrap_err();
        let all = errors.join("\n");
        assert_eq!(errors.len(), 5, "{all}");
        assert!(all.contains("tenants[1].user: 'alice' is also tenants[0].user"));
        assert!(all.contains("tenants[1]: missing password"));
        assert!(all.contains("tenants[1].prefix: 'ws:bob:' and tenants[0].prefix 'ws:' overlap"));
        assert!(all.contains("tenants[2].password_env: the variable NOPE is not set"));
        assert!(all.contains("tenants[2].prefix: missing or empty"));
    }

    #[test]
    fn redacts_credentials() {
        let r = |args: &[&str]| redact(&Command::from_strs(args)).join(" ");
        assert_eq!(r(&["AUTH", "u", "p"]), "AUTH <redacted> <redacted>");
        assert_eq!(
            r(&["HELLO", "3", "AUTH", "u", "p", "SETNAME", "n"]),
            "HELLO 3 AUTH <redacted> <redacted> SETNAME n"
        );
        assert_eq!(r(&["GET", "k"]), "GET k");
        assert_eq!(
            r(&["MIGRATE", "h", "1", "k", "0", "5", "AUTH2", "u", "p"]),
            "MIGRATE h 1 k 0 5 AUTH2 <redacted> <redacted>"
        );
    }
}
