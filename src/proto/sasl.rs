//! Logins without I/O: what a server's answer to a login means, and the user name read
//! out of SASL responses (RFC 4616 PLAIN, the LOGIN mechanism) for session logs and login
//! limits. The password is never kept.
use crate::message::decode::base64;

/// What the server's answer to a login attempt means (each protocol's codec decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAnswer {
    Accepted,
    /// The server said the credentials are wrong: counts toward a lockout.
    BadCredentials,
    /// Refused for another reason (busy, temporary failure, syntax, policy): never counts.
    Refused,
}

/// SASL mechanisms whose user name portcullis reads, so lockout and per-user limits apply
/// to them. Every other mechanism is removed from what clients are offered and refused:
/// a login portcullis cannot attribute would bypass both.
pub const ATTRIBUTABLE: &[&str] = &["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"];

/// Whether the user of mechanism `mech` can be read from its responses.
pub fn attributable(mech: &str) -> bool {
    ATTRIBUTABLE.iter().any(|m| m.eq_ignore_ascii_case(mech))
}

/// The authentication identity in response number `step` (0 = the initial response) of
/// mechanism `mech`, if that response carries it.
pub fn user_in_response(mech: &str, step: usize, data: &[u8]) -> Option<String> {
    if data == b"=" || data == b"*" {
        return None;
    }
    let decoded = base64::decode_all(data);
    let user = match (mech.to_ascii_uppercase().as_str(), step) {
        // authzid \0 authcid \0 password
        ("PLAIN", _) => decoded.split(|&b| b == 0).nth(1).map(|u| u.to_vec()),
        ("LOGIN", 0) => Some(decoded),
        // user=alice@example.org \x01 auth=Bearer ... \x01\x01
        ("XOAUTH2", 0) => field(&decoded, b"user="),
        // RFC 7628: gs2 header "n,a=alice@example.org," then \x01-separated fields
        ("OAUTHBEARER", 0) => decoded
            .split(|&b| b == b',')
            .find_map(|f| f.strip_prefix(b"a=").map(<[u8]>::to_vec)),
        _ => None,
    }?;
    let u: String = String::from_utf8_lossy(&user)
        .chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect();
    (!u.is_empty()).then_some(u)
}

/// The authorization identity of a PLAIN response when it names another user than the
/// one who authenticates (a master or admin login acting for a user): the mailbox the
/// session opens is that user's.
pub fn other_authzid(mech: &str, data: &[u8]) -> Option<String> {
    if !mech.eq_ignore_ascii_case("PLAIN") {
        return None;
    }
    let decoded = base64::decode_all(data);
    let mut f = decoded.split(|&b| b == 0);
    let (authz, authc) = (f.next()?, f.next()?);
    (!authz.is_empty() && authz != authc).then(|| {
        String::from_utf8_lossy(authz)
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect()
    })
}

/// The value of the \x01-separated field starting with `key`.
fn field(decoded: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    decoded
        .split(|&b| b == 1)
        .find_map(|f| f.strip_prefix(key).map(<[u8]>::to_vec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authzid_for_another_user_is_read() {
        // "bob\0master\0pw", "\0alice\0pw", "alice\0alice\0pw"
        assert_eq!(
            other_authzid("PLAIN", b"Ym9iAG1hc3RlcgBwdw=="),
            Some("bob".into())
        );
        assert_eq!(other_authzid("plain", b"AGFsaWNlAHB3"), None);
        assert_eq!(other_authzid("PLAIN", b"YWxpY2UAYWxpY2UAcHc="), None);
        assert_eq!(other_authzid("LOGIN", b"Ym9iAG1hc3RlcgBwdw=="), None);
    }

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
        // "user=bob@example.org\x01auth=Bearer t\x01\x01"
        assert_eq!(
            user_in_response(
                "XOAUTH2",
                0,
                b"dXNlcj1ib2JAZXhhbXBsZS5vcmcBYXV0aD1CZWFyZXIgdAEB"
            ),
            Some("bob@example.org".into())
        );
        // "n,a=carol@example.org,\x01auth=Bearer t\x01\x01"
        assert_eq!(
            user_in_response(
                "OAUTHBEARER",
                0,
                b"bixhPWNhcm9sQGV4YW1wbGUub3JnLAFhdXRoPUJlYXJlciB0AQE="
            ),
            Some("carol@example.org".into())
        );
        assert!(attributable("plain") && !attributable("CRAM-MD5"));
        assert!(!attributable("SCRAM-SHA-256-PLUS"));
        assert_eq!(user_in_response("PLAIN", 0, b"*"), None);
    }
}
