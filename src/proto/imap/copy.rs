//! The last message a client fetched in pieces, kept with its safe version so that its
//! next pieces are served without asking the server for the whole message again
//! (clients fetch large messages in ranges of 16 to 64 KiB).
use super::driver::Imap;
use super::held::Held;
use super::plan::Plan;
use super::safe::{Copy, Safe};
use crate::error::ProxyError;
use crate::message::spool::Spool;
use crate::session::hold::Hold;

impl Imap {
    /// Keeps a message the client fetches in pieces, for its next pieces.
    pub(super) fn keep_copy(&mut self, uid: u32, seq: u32, hold: &mut Hold<'_>, safe: Safe) {
        let Some(sel) = &self.mailbox else {
            return;
        };
        let dir = &self.core.ctx.app.cfg.general.spool_dir;
        let spool = std::mem::replace(&mut hold.spool, Spool::new(0, dir));
        self.copy = Some(Copy {
            uid,
            seq: Some(seq),
            mailbox: sel.name.clone(),
            uid_validity: sel.uid_validity,
            spool,
            safe,
        });
    }

    /// A response with content but without the whole message: served from the session's
    /// copy when it is that message, else its content values are `NIL`.
    pub(super) async fn serve_from_copy(
        &mut self,
        held: &Held,
        seq: u32,
        uid: Option<u32>,
        plan: &Plan,
    ) -> Result<(), ProxyError> {
        let matches = |c: &Copy| match uid {
            Some(u) => c.uid == u,
            None => c.seq == Some(seq),
        };
        if let Some(mut c) = self.copy.take().filter(|c| plan.from_copy && matches(c)) {
            let r = self
                .render(held, Some((&mut c.spool, &mut c.safe)), plan)
                .await;
            self.copy = Some(c);
            self.stats.copy_hits += 1;
            return r;
        }
        self.core.ctx.log.event(
            "fetch",
            &format!("seq={seq} content without the whole message: served as NIL"),
        );
        self.render(held, None, plan).await
    }

    /// Answers a FETCH of pieces of the copied message without the server (`plan.local`,
    /// nothing else in flight): a client reading a large message in ranges waits one
    /// round trip to the server for the first range only. `false` when the copy cannot
    /// name the message's sequence number (an expunge came in between).
    pub(super) async fn answer_from_copy(
        &mut self,
        tag: &str,
        plan: &Plan,
    ) -> Result<bool, ProxyError> {
        let Some((seq, uid)) = self.copy.as_ref().and_then(|c| Some((c.seq?, c.uid))) else {
            return Ok(false);
        };
        let held = Held::own(format!("* {seq} FETCH (UID {uid})\r\n").into_bytes());
        self.serve_from_copy(&held, seq, Some(uid), plan).await?;
        let done = format!("{tag} OK Fetch completed (portcullis, from the checked copy)\r\n");
        self.send_client(done.as_bytes()).await?;
        Ok(true)
    }
}
