//! The auth and tenant policy: the first layer of the chain when `[auth] password` or
//! `[[tenants]]` is configured.
//!
//! Invariants:
//! - Until a connection authenticates, only AUTH, HELLO, PING, QUIT and RESET pass; everything
//!   else is answered `-NOAUTH Authentication required.`.
//! - AUTH is answered here (`+OK` or `-WRONGPASS ...`) and never reaches a backend; HELLO's
//!   `AUTH user password` is checked here and removed, so the backend sees a plain HELLO.
//! - A connection authenticated as a tenant stays that tenant: every key, channel and pattern it
//!   names is prefixed ([`super::tenant_keys`]) and the names in its replies and pushes are
//!   un-prefixed ([`super::tenant_reply`]). The default user (`[auth] password`) is not prefixed.
//! - Passwords are never logged; failures are logged at debug level with the user name only.
//! - A reload ([`TenantPolicy::reloaded`]) keeps every session whose user still exists with the
//!   same password and prefix; any other authenticated session is signed out at its next
//!   command, which is answered `-NOAUTH ...` (AUTH, HELLO and RESET go on as on a new
//!   connection). A reload that removes `[auth]` and every tenant keeps this layer in a
//!   pass-through form, so a tenant's session can never go on unprefixed.

use std::sync::Arc;

use super::auth::AuthConfig;
use super::tenant_reload::{next_generation, Since};
use super::{tenant_keys, tenant_reply, Policy, PolicySession, Verdict};
use crate::command::Command;
use crate::protocol::Reply;

/// The policy; build it only when [`AuthConfig::required`] (or from a previous one, on reload).
pub struct TenantPolicy {
    pub(super) auth: AuthConfig,
    /// Unique to this policy: sessions remember which policy last confirmed their credentials.
    pub(super) generation: u64,
    /// Since which generation each user's credentials are unchanged.
    pub(super) since: Since,
    /// Whether pushes are un-prefixed (tenants are configured now or were before a reload).
    pub(super) pushes: bool,
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const NOAUTH: &str = "NOAUTH Authentication required.";
const SIGNED_OUT: &str = "NOAUTH the credentials this connection authenticated with were changed or removed by a configuration reload; AUTH again";

impl TenantPolicy {
    pub fn new(auth: AuthConfig) -> TenantPolicy {
        let generation = next_generation();
        TenantPolicy {
            since: Since::fresh(&auth, generation),
            pushes: !auth.tenants.is_empty(),
            auth,
            generation,
        }
    }

    /// Checks credentials and, when they are right, makes `session` that user.
    fn login(
        &self,
        session: &mut PolicySession,
        user: Option<&[u8]>,
        password: &[u8],
    ) -> Result<(), Reply> {
        let Some(who) = self.auth.check(user, password) else {
            tracing::debug!(
                user = %String::from_utf8_lossy(user.unwrap_or(b"default")),
                "authentication failed"
            );
            return Err(Reply::error(WRONGPASS));
        };
        let tenant = who.map(|t| t.user.clone());
        if session.authenticated && session.tenant != tenant && session.tenant.is_some() {
            return Err(Reply::error(
                "ERR this connection already belongs to another tenant; open a new connection to authenticate as someone else",
            ));
        }
        session.authenticated = true;
        session.auth_generation = self.generation;
        session.prefix = who.map(|t| t.prefix.clone());
        session.tenant = tenant;
        Ok(())
    }

    fn auth_command(&self, session: &mut PolicySession, cmd: &Command) -> Reply {
        let result = match &cmd.args[1..] {
            [password] => self.login(session, None, password),
            [user, password] => self.login(session, Some(user), password),
            _ => Err(Reply::error(
                "ERR wrong number of arguments for 'auth' command",
            )),
        };
        result.err().unwrap_or_else(Reply::ok)
    }

    /// Checks and removes HELLO's AUTH option.
    fn hello(&self, session: &mut PolicySession, cmd: &mut Command) -> Result<(), Reply> {
        let Some(at) = (2..cmd.args.len()).find(|&i| cmd.arg_is(i, "auth")) else {
            return Ok(());
        };
        if at + 2 >= cmd.args.len() {
            return Ok(()); // the backend answers the syntax error
        }
        let (user, password) = (cmd.args[at + 1].clone(), cmd.args[at + 2].clone());
        self.login(session, Some(&user), &password)?;
        cmd.args_mut().drain(at..at + 3);
        Ok(())
    }
}

impl Policy for TenantPolicy {
    fn request(&self, session: &mut PolicySession, cmd: &mut Command) -> Result<Verdict, Reply> {
        if session.authenticated
            && session.auth_generation != self.generation
            && !self.still_valid(session)
        {
            *session = PolicySession::default();
            if !(cmd.is("auth") || cmd.is("hello") || cmd.is("reset")) {
                return Err(Reply::error(SIGNED_OUT));
            }
        }
        if !self.auth.required() {
            // Kept by a reload that removed every credential: nothing to check.
            return Ok(Verdict::default());
        }
        if cmd.is("auth") {
            return Err(self.auth_command(session, cmd));
        }
        if cmd.is("hello") {
            self.hello(session, cmd)?;
            return Ok(Verdict::default());
        }
        if cmd.is("reset") {
            // RESET also signs the connection out, as in Redis.
            *session = PolicySession::default();
            return Ok(Verdict::default());
        }
        if !session.authenticated {
            if cmd.is("ping") || cmd.is("quit") {
                return Ok(Verdict::default());
            }
            return Err(Reply::error(NOAUTH));
        }
        match &session.prefix {
            Some(prefix) => tenant_keys::rewrite(prefix, cmd),
            None => Ok(Verdict::default()),
        }
    }

    fn reply(&self, session: &PolicySession, cmd: &Command, reply: &mut Reply) {
        if let Some(prefix) = &session.prefix {
            tenant_reply::reply(prefix, cmd, reply);
        }
    }

    fn push(&self, session: &PolicySession, push: &mut Reply) {
        if let Some(prefix) = &session.prefix {
            tenant_reply::push(prefix, push);
        }
    }

    fn rewrites_pushes(&self) -> bool {
        self.pushes
    }
}

/// The policy for `auth`, if it asks for one (otherwise every client is let in, as before).
pub fn policy(auth: &AuthConfig) -> Option<Arc<dyn Policy>> {
    auth.required()
        .then(|| Arc::new(TenantPolicy::new(auth.clone())) as Arc<dyn Policy>)
}
