//! SpamAssassin's spamd over the SPAMC/1.5 protocol (CHECK: score only, no rewriting by
//! spamd; the proxy adds its own headers).
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use crate::config::{SocketSpec, Spamd as Cfg};
use crate::scan::Verdict;

fn failed(why: impl Into<String>) -> Verdict {
    Verdict::Failed {
        scanner: "spamd".into(),
        why: why.into(),
    }
}

/// `None` when spamd was not asked (message above `max_bytes`, as spamc does).
pub async fn check(cfg: &Cfg, msg: &[u8]) -> Option<Verdict> {
    if msg.len() as u64 > cfg.max_bytes {
        return None;
    }
    let deadline = Duration::from_secs(cfg.timeout_secs);
    let spec = match SocketSpec::parse(&cfg.address) {
        Ok(s) => s,
        Err(e) => return Some(failed(e)),
    };
    let exchange = async {
        let mut conn = super::clamd::connect(&spec, deadline)
            .await
            .map_err(|e| format!("connect {}: {e}", cfg.address))?;
        let head = format!(
            "CHECK SPAMC/1.5\r\nContent-length: {}\r\nUser: {}\r\n\r\n",
            msg.len(),
            cfg.user
        );
        conn.write_all(head.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        conn.write_all(msg)
            .await
            .map_err(|e| format!("send: {e}"))?;
        conn.flush().await.map_err(|e| format!("send: {e}"))?;
        let mut reply = Vec::new();
        (&mut conn)
            .take(64 * 1024)
            .read_to_end(&mut reply)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok::<Vec<u8>, String>(reply)
    };
    Some(match timeout(deadline, exchange).await {
        Ok(Ok(reply)) => parse_reply(&reply),
        Ok(Err(e)) => failed(e),
        Err(_) => failed(format!("no answer within {}s", cfg.timeout_secs)),
    })
}

/// Reads `SPAMD/1.1 0 EX_OK` and the `Spam: True ; 6.1 / 5.0` header.
pub fn parse_reply(raw: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    let mut parts = status.split_whitespace();
    let proto = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !proto.starts_with("SPAMD/") {
        return failed(format!(
            "unexpected reply {:?}",
            status.chars().take(80).collect::<String>()
        ));
    }
    if code != "0" {
        return failed(format!("spamd error: {status}"));
    }
    for line in lines {
        if let Some(v) = line.strip_prefix("Spam: ") {
            let (flag, rest) = v.split_once(';').unwrap_or((v, ""));
            let (score, thr) = rest.split_once('/').unwrap_or(("", ""));
            let (Ok(score), Ok(threshold)) =
                (score.trim().parse::<f64>(), thr.trim().parse::<f64>())
            else {
                return failed(format!("unreadable Spam header {v:?}"));
            };
            let is_spam =
                flag.trim().eq_ignore_ascii_case("true") || flag.trim().eq_ignore_ascii_case("yes");
            return if is_spam {
                Verdict::Spam { score, threshold }
            } else {
                Verdict::Clean
            };
        }
    }
    failed("reply without a Spam header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"),
            Verdict::Spam {
                score: 1000.0,
                threshold: 5.0
            }
        );
        assert_eq!(
            parse_reply(b"SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.1 / 5.0\r\n\r\n"),
            Verdict::Clean
        );
        assert!(matches!(
            parse_reply(b"SPAMD/1.0 76 Bad header line"),
            Verdict::Failed { .. }
        ));
        assert!(matches!(parse_reply(b""), Verdict::Failed { .. }));
        assert!(matches!(
            parse_reply(b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; x / y\r\n\r\n"),
            Verdict::Failed { .. }
        ));
    }
}
