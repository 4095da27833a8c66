//! The fixed label values: how a session's end and a scan failure are classed.
use crate::error::{ProxyError, Side};
use crate::scan::Verdict;

/// The reason class of a session that ended on `e` (`None`: the protocol ended it, such as
/// QUIT or a refused greeting: "ended").
pub fn end_class(e: Option<&ProxyError>) -> &'static str {
    let Some(e) = e else {
        return "ended";
    };
    let side = e.side();
    let (client, server, other) = match e {
        ProxyError::Shutdown => return "shutdown",
        ProxyError::Killed => return "killed",
        ProxyError::Timeout { .. } => ("client_timeout", "server_timeout", "local_timeout"),
        ProxyError::Closed { .. } => ("client_closed", "server_closed", "local_error"),
        ProxyError::LineTooLong { .. }
        | ProxyError::TooLarge { .. }
        | ProxyError::Protocol { .. } => ("client_protocol", "server_protocol", "local_error"),
        _ => ("client_error", "server_error", "local_error"),
    };
    match side {
        Side::Client => client,
        Side::Server => server,
        _ => other,
    }
}

/// The engine and kind ("error" or "timeout") of a verdict that says a scan failed. The
/// whole-scan deadline is the engine "pipeline"; an engine's own time limit is told apart
/// by its note, which is only ever used for this label.
pub fn scan_failure(v: &Verdict) -> Option<(&'static str, &'static str)> {
    let Verdict::Failed { scanner, why } = v else {
        return None;
    };
    let engine = match scanner.as_str() {
        "clamd" => "clamd",
        "spamd" => "spamd",
        "builtin" => "builtin",
        "spool" => "spool",
        "pipeline" => return Some(("pipeline", "timeout")),
        _ => "other",
    };
    let timeout = why.contains("timed out") || why.contains("no answer within");
    Some((engine, if timeout { "timeout" } else { "error" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_classed_by_variant_and_side() {
        assert_eq!(end_class(None), "ended");
        assert_eq!(end_class(Some(&ProxyError::Shutdown)), "shutdown");
        assert_eq!(end_class(Some(&ProxyError::Killed)), "killed");
        let t = ProxyError::Timeout {
            side: Side::Server,
            what: "x",
        };
        assert_eq!(end_class(Some(&t)), "server_timeout");
        let c = ProxyError::Closed { side: Side::Client };
        assert_eq!(end_class(Some(&c)), "client_closed");
        let p = ProxyError::protocol(Side::Client, "bad");
        assert_eq!(end_class(Some(&p)), "client_protocol");
    }

    #[test]
    fn failures_name_their_engine() {
        let f = |s: &str, w: &str| Verdict::Failed {
            scanner: s.into(),
            why: w.into(),
        };
        assert_eq!(scan_failure(&Verdict::Clean), None);
        assert_eq!(
            scan_failure(&f("clamd", "connect x: refused")),
            Some(("clamd", "error"))
        );
        assert_eq!(
            scan_failure(&f("clamd", "send timed out")),
            Some(("clamd", "timeout"))
        );
        assert_eq!(
            scan_failure(&f("pipeline", "no verdict")),
            Some(("pipeline", "timeout"))
        );
        assert_eq!(scan_failure(&f("weird", "x")), Some(("other", "error")));
    }
}
