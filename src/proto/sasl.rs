//! Logins without I/O: what a server's answer to a login means, and the user name read
//! out of SASL responses (RFC 4616 PLAIN, the LOGIN mechanism) for session logs and login
//! limits. The password is never kept.
use crate::message::mime::base64_decode_any;

/// What the server's answer to a login attempt means (each protocol's codec decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAnswer {
    Accepted,
    /// The server said the credentials are wrong: counts toward a lockout.
    BadCredentials,
    /// Refused for another reason (busy, temporary failure, syntax, policy): never counts.
    Refused,
}

/// The authentication identity in response number `step` (0 = the initial response) of
/// mechanism `mech`, if that response carries it.
pub fn user_in_response(mech: &str, step: usize, data: &[u8]) -> Option<String> {
    if data == b"=" || data == b"*" {
        return None;
    }
    let decoded = base64_decode_any(data);
    let user = match (mech, step) {
        // authzid \0 authcid \0 password
        ("PLAIN", _) => decoded.split(|&b| b == 0).nth(1).map(|u| u.to_vec()),
        ("LOGIN", 0) => Some(decoded),
        _ => None,
    }?;
    let u: String = String::from_utf8_lossy(&user)
        .chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect();
    (!u.is_empty()).then_some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_login() {
        // "\0alice\0secret"
        assert_eq!(
            user_in_response("PLAIN", 0, b"AGFsaWNlAHNlY3JldA=="),
            Some("alice".into())
        );
        assert_eq!(
            user_in_response("LOGIN", 0, b"YWxpY2U="),
            Some("alice".into())
        );
        assert_eq!(
            user_in_response("LOGIN", 1, b"c2VjcmV0"),
            None,
            "the password step"
        );
        assert_eq!(user_in_response("CRAM-MD5", 0, b"YWxpY2U="), None);
        assert_eq!(user_in_response("PLAIN", 0, b"*"), None);
    }
}
