//! Logins, the same way for every protocol: a lockout check before credentials reach the
//! server, the user name read from SASL responses, and one rule for which failures count
//! toward a lockout: only an answer that blames the credentials (each codec says which of
//! its answers do). A busy mailbox, a temporary failure or a syntax error never counts.
use super::Ctx;
use crate::abuse::Actor;
use crate::proto::sasl;
pub use crate::proto::sasl::LoginAnswer;

impl Ctx {
    /// Whether a login for `user` (if known yet) must not go to the server; a refusal is
    /// logged and alerted.
    pub fn login_blocked(&mut self, user: Option<&str>) -> bool {
        let actor = Actor {
            client: self.client_addr.0.ip(),
            user,
        };
        !self
            .app
            .abuse
            .check_login(&mut self.log, self.id.as_str(), self.protocol, &actor)
    }

    /// Records the end of a login attempt by `user`; `detail` (such as " mechanism=PLAIN")
    /// goes into the log line.
    pub fn login_done(&mut self, user: Option<String>, answer: LoginAnswer, detail: &str) {
        let name = user.clone().unwrap_or_default();
        if answer == LoginAnswer::Accepted {
            self.log.event("login", &format!("ok user={name}{detail}"));
            self.user = user;
            self.live.set_user(self.user.as_deref());
            return;
        }
        self.log
            .event("login", &format!("failed user={name}{detail}"));
        if answer == LoginAnswer::BadCredentials {
            let actor = Actor {
                client: self.client_addr.0.ip(),
                user: user.as_deref(),
            };
            self.app.abuse.report_failed_login(
                &mut self.log,
                self.id.as_str(),
                self.protocol,
                &actor,
            );
        }
    }
}

/// Follows one SASL exchange to learn the user name (never the password).
#[derive(Debug)]
pub struct SaslUser {
    pub mech: String,
    step: usize,
    pub user: Option<String>,
    /// The user a PLAIN login acts for, when not the one who authenticates.
    pub acts_as: Option<String>,
}

impl SaslUser {
    /// An exchange with mechanism `mech` and, if given, its initial response.
    pub fn start(mech: &str, initial: Option<&[u8]>) -> SaslUser {
        let mut s = SaslUser {
            mech: mech.to_ascii_uppercase(),
            step: 0,
            user: None,
            acts_as: None,
        };
        if let Some(data) = initial {
            s.response(data);
        }
        s
    }

    /// Reads the client's next response; true when it named the user for the first time.
    pub fn response(&mut self, data: &[u8]) -> bool {
        let had = self.user.is_some();
        if let Some(u) = sasl::user_in_response(&self.mech, self.step, data) {
            self.user = Some(u);
            self.acts_as = sasl::other_authzid(&self.mech, data);
        }
        self.step += 1;
        !had && self.user.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_learned_once_from_plain_or_login() {
        // "\0alice\0secret" as the initial response.
        let s = SaslUser::start("plain", Some(b"AGFsaWNlAHNlY3JldA=="));
        assert_eq!(s.user.as_deref(), Some("alice"));
        let mut l = SaslUser::start("LOGIN", None);
        assert!(
            l.response(b"YWxpY2U="),
            "the first LOGIN response is the user"
        );
        assert!(!l.response(b"c2VjcmV0"), "the password step names nobody");
        assert_eq!(l.user.as_deref(), Some("alice"));
    }
}
