//! The admin endpoints beside the listeners: the Prometheus scrape endpoint
//! (`metrics.listen`), the control socket (`control.socket`), and the signals a service
//! manager sends (SIGHUP reloads; SIGTERM and SIGINT stop).
use std::io;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::reload::Reloader;

/// Starts the endpoints the configuration asks for (inside a tokio runtime).
pub fn start(
    app: &App,
    reloader: &Arc<Reloader>,
    stop: &watch::Receiver<bool>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    let m = &app.cfg.metrics;
    if let Some(addr) = m.listen {
        let sock = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("metrics.listen = {addr}: cannot listen: {e}"),
                )
            })?;
        tracing::info!(listen = %sock.local_addr()?, "serving metrics");
        let metrics = app.metrics.clone();
        tasks.push(tokio::spawn(crate::metrics::http::serve(
            sock,
            metrics,
            m.clone(),
            stop.clone(),
        )));
    }
    let c = &app.cfg.control;
    if let Some(path) = &c.socket {
        let sock = crate::control::bind(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("control.socket = {}: cannot listen: {e}", path.display()),
            )
        })?;
        tracing::info!(socket = %path.display(), "control socket ready");
        let r = reloader.clone();
        tasks.push(tokio::spawn(crate::control::serve(
            sock,
            c.clone(),
            r,
            stop.clone(),
        )));
    }
    Ok(tasks)
}

/// Waits for SIGTERM or SIGINT, reloading on every SIGHUP meanwhile.
pub async fn until_stop_signal(reloader: &Arc<Reloader>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                let r = reloader.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload()).await;
            }
        }
    }
}
