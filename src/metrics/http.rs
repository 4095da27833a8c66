//! The scrape endpoint: a minimal HTTP/1.1 responder for `GET /metrics` on
//! `metrics.listen`. Written here rather than taken from a crate because it answers one
//! request per connection with one fixed resource: a server framework would be most of the
//! binary's size for this. Every connection is bounded: `metrics.max_connections` at once,
//! a request head of at most `metrics.max_request_bytes`, `metrics.timeout_secs` to send it
//! and take the answer; then the connection closes.
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::Metrics;
use crate::config::MetricsCfg;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET /metrics` (or `HEAD`: `head_only`); `openmetrics` when the `Accept` header
    /// asks for it, the classic text format otherwise.
    Metrics {
        head_only: bool,
        openmetrics: bool,
    },
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Reads a complete request head (up to the blank line).
pub fn parse(head: &[u8]) -> Request {
    let Some(line_end) = head.windows(2).position(|w| w == b"\r\n") else {
        return Request::BadRequest;
    };
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Request::BadRequest;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::BadRequest;
    }
    let path = target.split('?').next().unwrap_or("");
    let openmetrics = head
        .split(|&b| b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .filter_map(|l| l.split_once(':'))
        .any(|(k, v)| k.eq_ignore_ascii_case("accept") && super::text::wants_openmetrics(v));
    match (method, path) {
        ("GET", "/metrics") => Request::Metrics {
            head_only: false,
            openmetrics,
        },
        ("HEAD", "/metrics") => Request::Metrics {
            head_only: true,
            openmetrics,
        },
        (_, "/metrics") => Request::MethodNotAllowed,
        _ => Request::NotFound,
    }
}

fn response(status: &str, ctype: &str, body: &str, head_only: bool) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        r.extend_from_slice(body.as_bytes());
    }
    r
}

/// Binds `metrics.listen`; `None` when no endpoint is configured.
pub async fn bind(cfg: &MetricsCfg) -> std::io::Result<Option<TcpListener>> {
    match cfg.listen {
        Some(a) => TcpListener::bind(a).await.map(Some),
        None => Ok(None),
    }
}

/// Serves scrapes until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    cfg: MetricsCfg,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let cfg = Arc::new(cfg);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // Over the cap: the connection is closed unanswered.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let (metrics, cfg) = (metrics.clone(), cfg.clone());
        tokio::spawn(async move {
            let limit = Duration::from_secs(cfg.timeout_secs);
            let _ = tokio::time::timeout(limit, answer(stream, &metrics, &cfg)).await;
            drop(permit);
        });
    }
}

async fn answer(mut s: TcpStream, metrics: &Metrics, cfg: &MetricsCfg) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let req = loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break parse(&head);
        }
        if head.len() > cfg.max_request_bytes {
            let r = response(
                "431 Request Header Fields Too Large",
                "text/plain",
                "request too large\n",
                false,
            );
            return s.write_all(&r).await;
        }
    };
    let r = match req {
        Request::Metrics {
            head_only,
            openmetrics: true,
        } => response("200 OK", CONTENT_TYPE, &metrics.encode(), head_only),
        Request::Metrics {
            head_only,
            openmetrics: false,
        } => {
            let body = super::text::classic(&metrics.encode());
            response("200 OK", super::text::CONTENT_TYPE, &body, head_only)
        }
        Request::NotFound => response(
            "404 Not Found",
            "text/plain",
            "only /metrics is served\n",
            false,
        ),
        Request::MethodNotAllowed => {
            response("405 Method Not Allowed", "text/plain", "use GET\n", false)
        }
        Request::BadRequest => response("400 Bad Request", "text/plain", "bad request\n", false),
    };
    s.write_all(&r).await?;
    s.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_metrics_is_served() {
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics {
                head_only: false,
                openmetrics: false
            }
        );
        assert_eq!(
            parse(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Metrics {
                head_only: false,
                openmetrics: false
            }
        );
        assert_eq!(
            parse(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Request::Metrics {
                head_only: true,
                openmetrics: false
            }
        );
        assert_eq!(
            parse(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::MethodNotAllowed
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\naccept: application/openmetrics-text; version=1.0.0\r\n\r\n"),
            Request::Metrics {
                head_only: false,
                openmetrics: true
            }
        );
        assert_eq!(parse(b"GET /metrics\r\n\r\n"), Request::BadRequest);
        assert_eq!(parse(b"GET /metrics SPDY/3\r\n\r\n"), Request::BadRequest);
        assert_eq!(parse(b"\xff\xfe\r\n\r\n"), Request::BadRequest);
    }

    #[tokio::test]
    async fn an_endless_request_head_is_cut_off_at_the_limit() {
        let cfg = MetricsCfg {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            max_request_bytes: 256,
            ..MetricsCfg::default()
        };
        let l = bind(&cfg).await.unwrap().unwrap();
        let addr = l.local_addr().unwrap();
        let (_tx, rx) = watch::channel(false);
        tokio::spawn(serve(l, Arc::new(Metrics::new()), cfg, rx));
        let mut c = TcpStream::connect(addr).await.unwrap();
        let junk = vec![b'a'; 4096];
        let _ = c.write_all(&junk).await;
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got).await;
        assert!(
            got.starts_with(b"HTTP/1.1 431 "),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("portcullis_held_messages 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
