//! The proxy's side of the control socket.
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use super::{Answer, Request};
use crate::config::Control;
use crate::live::Selector;
use crate::reload::Reloader;

/// Binds the control socket, replacing a stale one, with mode 0600. Its parent directory
/// is created (mode 0700) when missing.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ));
        }
        Err(_) => {}
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Answers commands until `stop` turns true; commands are taken one at a time.
pub async fn serve(
    listener: UnixListener,
    cfg: Control,
    reloader: Arc<Reloader>,
    mut stop: watch::Receiver<bool>,
) {
    // The socket's owner is the user this process runs as.
    let owner = cfg
        .socket
        .as_deref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.uid());
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let allowed = stream
            .peer_cred()
            .is_ok_and(|c| c.uid() == 0 || Some(c.uid()) == owner);
        if !allowed {
            tracing::warn!("control socket: connection from another user refused");
            continue;
        }
        let limit = Duration::from_secs(cfg.timeout_secs);
        let _ = tokio::time::timeout(limit, answer(stream, &cfg, &reloader)).await;
    }
}

async fn answer(stream: UnixStream, cfg: &Control, reloader: &Arc<Reloader>) -> io::Result<()> {
    let mut r = BufReader::new(stream).take(cfg.max_request_bytes as u64 + 1);
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).await?;
    let answer = if line.len() > cfg.max_request_bytes {
        Answer::err(format!(
            "request longer than control.max_request_bytes ({})",
            cfg.max_request_bytes
        ))
    } else {
        match serde_json::from_slice::<Request>(&line) {
            Ok(req) => run(req, reloader).await,
            Err(e) => Answer::err(format!("unreadable request: {e}")),
        }
    };
    let mut out = serde_json::to_vec(&answer).unwrap_or_default();
    out.push(b'\n');
    let mut s = r.into_inner().into_inner();
    s.write_all(&out).await?;
    s.shutdown().await
}

async fn run(req: Request, reloader: &Arc<Reloader>) -> Answer {
    let app = reloader.current();
    match req {
        Request::Kill { user, client } => {
            let sel = match (user, client) {
                (Some(u), None) if !u.is_empty() => Selector::User(u),
                (None, Some(ip)) => Selector::Client(ip),
                _ => return Answer::err("give exactly one of user or client"),
            };
            let n = app.live.kill(&sel);
            app.metrics.killed("command", n as u64);
            tracing::warn!(?sel, sessions = n, "live sessions ended on request");
            Answer::ok(format!("ended {n} live session(s)"))
        }
        Request::List => Answer {
            sessions: app.live.list(),
            ..Answer::ok("live sessions")
        },
        Request::Reload => {
            let r = reloader.clone();
            match tokio::task::spawn_blocking(move || r.reload()).await {
                Ok(Ok(m)) => Answer::ok(m),
                Ok(Err(m)) => Answer::err(m),
                Err(e) => Answer::err(format!("reload failed: {e}")),
            }
        }
    }
}
