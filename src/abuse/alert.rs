//! The alert of a limit hit or lockout: a structured warning, and the admin's command.
use std::time::{Duration, Instant};

use super::{Abuse, Actor, Hit};

impl Abuse {
    /// Logs the hit as a structured warning and runs the configured alert command with
    /// the details in its environment (never waited for by the session).
    pub fn alert(&self, hit: &Hit, session: &str, protocol: &str, actor: &Actor, now: Instant) {
        tracing::warn!(
            alert = hit.kind,
            scope = hit.scope,
            key = %hit.key,
            client = %actor.client,
            user = actor.user.unwrap_or("-"),
            protocol,
            "{}",
            hit.detail
        );
        if !self.should_alert(hit, now) {
            return;
        }
        let Some(cmd) = self.cfg().alert.command.clone() else {
            return;
        };
        let env = [
            ("PORTCULLIS_ALERT", hit.kind.to_string()),
            ("PORTCULLIS_SCOPE", hit.scope.to_string()),
            ("PORTCULLIS_KEY", hit.key.clone()),
            ("PORTCULLIS_DETAIL", hit.detail.clone()),
            ("PORTCULLIS_CLIENT", actor.client.to_string()),
            ("PORTCULLIS_USER", actor.user.unwrap_or("").to_string()),
            ("PORTCULLIS_PROTOCOL", protocol.to_string()),
            ("PORTCULLIS_SESSION", session.to_string()),
        ];
        let deadline = Duration::from_secs(self.cfg().alert.timeout_secs);
        tokio::spawn(async move {
            let mut c = tokio::process::Command::new(&cmd);
            c.envs(env)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true);
            match c.spawn() {
                Ok(mut child) => match tokio::time::timeout(deadline, child.wait()).await {
                    Ok(Ok(st)) if st.success() => {}
                    Ok(Ok(st)) => {
                        tracing::warn!(command = %cmd, status = %st, "alert command failed")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(command = %cmd, error = %e, "alert command failed")
                    }
                    Err(_) => {
                        tracing::warn!(command = %cmd, "alert command timed out and was killed")
                    }
                },
                Err(e) => tracing::warn!(command = %cmd, error = %e, "cannot run alert command"),
            }
        });
    }
}
