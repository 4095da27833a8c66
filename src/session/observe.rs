//! The session layer's metrics hooks: what a session, a message and a quarantined original
//! add to the counters (`crate::metrics`), from the facts the layer already has.
use std::time::Duration;

use super::{Core, Ctx};
use crate::app::App;
use crate::config::{DownloadAction, SubmitAction};
use crate::error::ProxyError;
use crate::metrics::{MessageFacts, Relayed};
use crate::scan::Verdict;

/// The reason class of a session's end, for `portcullis_sessions_ended_total`.
pub fn end_class(e: Option<&ProxyError>) -> &'static str {
    crate::metrics::end_class(e)
}

/// A session whose server could not be reached: started, failed, ended.
pub fn connect_failed(app: &App, protocol: &'static str) {
    app.metrics.connect_failed(protocol);
    app.metrics
        .session_ended(protocol, "connect_failed", Relayed::default());
}

pub fn download_action(a: DownloadAction) -> &'static str {
    match a {
        DownloadAction::Pass => "pass",
        DownloadAction::Tag => "tag",
        DownloadAction::Replace => "replace",
    }
}

pub fn submit_action(a: SubmitAction) -> &'static str {
    match a {
        SubmitAction::Pass => "pass",
        SubmitAction::Tag => "tag",
        SubmitAction::Reject => "reject",
        SubmitAction::Tempfail => "tempfail",
        SubmitAction::Discard => "discard",
    }
}

impl Core {
    /// Counts the session's end and the bytes it carried.
    pub fn count_end(&self, class: &'static str) {
        let bytes = Relayed {
            client_in: self.client.bytes_in,
            client_out: self.client.bytes_out,
            server_in: self.server.bytes_in,
            server_out: self.server.bytes_out,
        };
        self.ctx
            .app
            .metrics
            .session_ended(self.ctx.protocol, class, bytes);
    }
}

impl Ctx {
    /// Counts a judged message: `direction` is "download" or "submission"; `verdict` is
    /// `None` for a message refused before any scan (action "refused").
    pub fn count_message(
        &self,
        direction: &'static str,
        verdict: Option<&Verdict>,
        action: &'static str,
        size: u64,
        scan: Option<Duration>,
    ) {
        self.app.metrics.message(MessageFacts {
            protocol: self.protocol,
            direction,
            verdict,
            action,
            size,
            scan,
        });
    }

    pub(super) fn count_quarantined(&self, kept: bool, bytes: u64) {
        if kept {
            self.app.metrics.quarantined(self.protocol, bytes);
        }
    }

    /// `Err(Killed)` once the session was asked to end: checked before a message goes
    /// upstream, so one in flight is refused whole rather than half-sent.
    pub fn check_cancel(&self) -> Result<(), ProxyError> {
        if self.live.cancelled() {
            return Err(ProxyError::Killed);
        }
        Ok(())
    }
}
