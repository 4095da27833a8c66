//! The command line's side of the control socket: send one request to the running proxy
//! and take its answer.
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::{Answer, Request};
use crate::config::Config;

/// Sends `req` to the proxy that runs with `cfg`; the error says what went wrong.
pub fn send(cfg: &Config, req: &Request) -> Result<Answer, String> {
    let Some(path) = &cfg.control.socket else {
        return Err(
            "control.socket is not set in the config: set it (and restart), or for a reload send SIGHUP (systemctl reload portcullis)"
                .into(),
        );
    };
    let mut s = UnixStream::connect(path).map_err(|e| {
        format!(
            "control.socket = {}: cannot connect ({e}); is portcullis running with this config, and are you root or its user?",
            path.display()
        )
    })?;
    let limit = Some(Duration::from_secs(cfg.control.timeout_secs.max(30)));
    let _ = s.set_read_timeout(limit);
    let _ = s.set_write_timeout(limit);
    let mut line = serde_json::to_vec(req).map_err(|e| e.to_string())?;
    line.push(b'\n');
    s.write_all(&line)
        .map_err(|e| format!("control socket: {e}"))?;
    let mut answer = String::new();
    BufReader::new(s)
        .take(1 << 20)
        .read_line(&mut answer)
        .map_err(|e| format!("control socket: no answer ({e})"))?;
    serde_json::from_str(&answer).map_err(|e| format!("control socket: unreadable answer ({e})"))
}
