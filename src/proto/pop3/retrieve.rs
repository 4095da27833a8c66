//! RETR and TOP: the answer is held whole, scanned, and then delivered as policy says:
//! the original (with the scan header), tagged, or a notice in its place with the
//! original quarantined first.
use crate::config::DownloadAction;
use crate::error::{ProxyError, Side};
use crate::message::mime;
use crate::scan::policy;
use crate::session::Conn;
use crate::session::deliver::{self, Framing, Scratch};
use crate::session::hold::{Comfort, Hold, Judgement, Problem};

use super::codec::{self, Command, Status, Stuffer, Verb};
use super::driver::Pop3;

const TEMPORARY: &[u8] = b"-ERR [SYS/TEMP] portcullis: this message cannot be handled safely now; it stays on the server, try again later\r\n";

/// Comforts a client waiting for a held message with bytes that are valid whatever the
/// verdict: the status line, then header lines of our own. Never original content.
struct Progress<'c> {
    client: &'c mut Conn,
    /// Whether the status line went out already.
    status_sent: bool,
    stuffer: Stuffer,
}

impl Comfort for Progress<'_> {
    async fn comfort(&mut self) -> Result<(), ProxyError> {
        let mut out = Vec::new();
        if !self.status_sent {
            self.status_sent = true;
            out.extend_from_slice(b"+OK message follows (held for scanning)\r\n");
        }
        self.stuffer
            .feed(b"X-Portcullis-Progress: scanning\r\n", &mut out);
        self.client.send(&out).await
    }
}

/// What the server (or the copy fetched ahead) answered to RETR or TOP.
struct Answer {
    status: Vec<u8>,
    announced: Option<u64>,
    copy: Option<Vec<u8>>,
}

/// How a held message will be sent.
enum Delivery {
    /// Not at all: the client gets a temporary error and the message stays on the server.
    Refused,
    /// New header block, then the original from `body_offset`.
    Edited { head: Vec<u8>, body_offset: u64 },
    /// A complete replacement.
    Notice(Vec<u8>),
}

impl Pop3 {
    /// RETR / TOP: hold the answer, scan it, deliver what policy says.
    pub(super) async fn retrieve(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        let mut scratch = std::mem::take(&mut self.core.scratch);
        let r = self.retrieve_with(cmd, line, &mut scratch).await;
        self.core.scratch = scratch;
        r?;
        match cmd.verb {
            Verb::Retr => self.look_ahead(cmd.msg_number().unwrap_or(0)).await,
            _ => Ok(()),
        }
    }

    async fn retrieve_with(
        &mut self,
        cmd: &Command,
        line: &[u8],
        scratch: &mut Scratch,
    ) -> Result<(), ProxyError> {
        let n = cmd.msg_number().unwrap_or(0);
        let is_top = cmd.verb == Verb::Top;
        let Some(Answer {
            status,
            announced,
            copy,
        }) = self.answer(n, is_top, line).await?
        else {
            return Ok(());
        };
        let app = self.core.ctx.app.clone();
        let mut hold = Hold::begin(&app, app.cfg.limits.max_message_bytes, announced).await;
        let mut progress = Progress {
            client: &mut self.core.client,
            status_sent: false,
            stuffer: Stuffer::default(),
        };
        match copy {
            Some(data) => hold.take(&data).await,
            None => {
                let owed = announced.filter(|_| !is_top);
                let (server, sdec) = (&mut self.core.server, &mut self.sdec);
                receive(server, sdec, &mut hold, &mut progress, scratch, owed).await?
            }
        }
        let judged = hold.judge(&mut progress).await?;
        let Progress {
            status_sent,
            stuffer,
            ..
        } = progress;
        self.core
            .ctx
            .scan_notes(&format!("message={n} "), &judged.notes);
        let delivery = self.decide(n, is_top, &mut hold, &judged).await?;
        let early = status_sent.then_some(stuffer);
        self.send_delivery(delivery, &status, early, &mut hold, scratch)
            .await
    }

    /// The status of the server's answer (or of the copy fetched ahead), and the copy;
    /// `None` when the server refused and the client has its answer.
    async fn answer(
        &mut self,
        n: u32,
        is_top: bool,
        line: &[u8],
    ) -> Result<Option<Answer>, ProxyError> {
        // A size from a LIST the client made stands in for a status line without one.
        let listed = (!is_top).then(|| self.sizes.get(&n).copied()).flatten();
        if !is_top && self.ahead.in_flight(n) {
            self.settle().await?;
        }
        if let Some(data) = (!is_top).then(|| self.ahead.take(n, listed)).flatten() {
            // The client's RETR still reaches the server, for its own effect.
            self.send_server(line).await?;
            let size = data.len() as u64;
            self.ahead.served_from_copy(n, size);
            return Ok(Some(Answer {
                status: format!("+OK {size} octets\r\n").into_bytes(),
                announced: Some(size),
                copy: Some(data),
            }));
        }
        let (st, status) = self.ask(line).await?;
        if st != Status::Ok {
            self.send_client(&status).await?;
            return Ok(None);
        }
        let announced = codec::octets(&status).or(listed);
        Ok(Some(Answer {
            status,
            announced,
            copy: None,
        }))
    }

    /// Sends what was decided. `early` holds the stuffer when the status line (and our
    /// progress lines) already went out while the message was held.
    async fn send_delivery(
        &mut self,
        delivery: Delivery,
        status: &[u8],
        early: Option<Stuffer>,
        hold: &mut Hold<'_>,
        scratch: &mut Scratch,
    ) -> Result<(), ProxyError> {
        scratch.out.clear();
        let total = match &delivery {
            Delivery::Refused if early.is_some() => {
                // The client already has a positive status line: it can only be left
                // without the end of the answer, never with a notice.
                return Err(ProxyError::Io {
                    side: Side::Local,
                    source: std::io::Error::other("the message could not be kept safely"),
                });
            }
            Delivery::Refused => return self.send_client(TEMPORARY).await,
            Delivery::Notice(m) => m.len() as u64,
            Delivery::Edited { head, body_offset } => {
                head.len() as u64 + hold.spool.len() - body_offset
            }
        };
        let stuffer = match early {
            Some(s) => s,
            None => {
                let status = codec::rewrite_octets(status, total);
                scratch.out.extend_from_slice(&status);
                Stuffer::default()
            }
        };
        let client = &mut self.core.client;
        match delivery {
            Delivery::Edited { head, body_offset } => {
                let framing = Framing::Dotted(stuffer);
                let spool = &mut hold.spool;
                deliver::send_message(client, scratch, &head, spool, body_offset, framing).await
            }
            Delivery::Notice(m) => {
                let mut stuffer = stuffer;
                stuffer.feed(&m, &mut scratch.out);
                stuffer.finish(&mut scratch.out);
                let r = client.send(&scratch.out).await;
                scratch.out.clear();
                r
            }
            Delivery::Refused => Ok(()),
        }
    }

    /// Maps the verdict to what the client gets, quarantining and marking first.
    async fn decide(
        &mut self,
        n: u32,
        is_top: bool,
        hold: &mut Hold<'_>,
        judged: &Judgement,
    ) -> Result<Delivery, ProxyError> {
        let app = self.core.ctx.app.clone();
        let cfg = &app.cfg;
        let verdict = &judged.verdict;
        let mut action = policy::download_action(&cfg.policy.download, verdict);
        if !judged.held {
            // Not held whole: can be neither delivered nor kept; the original stays put.
            action = DownloadAction::Replace;
        }
        self.core.ctx.messages += 1;
        *self.verdicts.entry(verdict.kind()).or_insert(0) += 1;
        let head = hold
            .spool
            .head(cfg.limits.max_header_bytes)
            .map_err(ProxyError::io(Side::Local))?;
        let (delivery, note) = if matches!(hold.problem(), Some(Problem::Spool(_))) {
            // A local failure says nothing about the message: no notice, try again later.
            (
                Delivery::Refused,
                " refused: the message could not be held".into(),
            )
        } else if action == DownloadAction::Replace {
            self.replace(n, is_top, hold, &head, judged).await?
        } else {
            if !is_top {
                // Delivered whole after all: a guard an earlier TOP or session left is void.
                self.unguard(n).await?;
            }
            let tag = action == DownloadAction::Tag;
            let (head, body_offset) =
                self.core
                    .ctx
                    .delivered_head(&head, verdict, &judged.engines, tag);
            (Delivery::Edited { head, body_offset }, String::new())
        };
        let uidl = self.uidls.get(&n).cloned().unwrap_or_else(|| "-".into());
        self.core.ctx.log.event(
            "message",
            &format!(
                "command={} number={n} uidl={uidl} size={} verdict=\"{verdict}\" action={action:?} scan_ms={}{note}",
                if is_top { "TOP" } else { "RETR" },
                hold.spool.len(),
                judged.elapsed.as_millis()
            ),
        );
        let counted = crate::session::observe::download_action(action);
        let size = hold.spool.len();
        self.core.ctx.count_message(
            "download",
            Some(verdict),
            counted,
            size,
            Some(judged.elapsed),
        );
        Ok(delivery)
    }

    /// A notice in place of the message, once the original is safe: quarantined, or
    /// guarded on the server by a durable withheld marker. If neither can be done the
    /// client gets a temporary error instead, and the mail stays where it is.
    async fn replace(
        &mut self,
        n: u32,
        is_top: bool,
        hold: &mut Hold<'_>,
        head: &[u8],
        judged: &Judgement,
    ) -> Result<(Delivery, String), ProxyError> {
        let ctx = &mut self.core.ctx;
        let verdict = &judged.verdict;
        let sum = mime::summary(head);
        let qid = if !judged.held || is_top {
            None
        } else {
            ctx.quarantine(&mut hold.spool, &sum, verdict)
        };
        let scan_header = ctx.scan_header(verdict, &judged.engines);
        let (notice, _) = ctx
            .safe_notice(head, sum, verdict, qid.as_ref(), &scan_header, None)
            .await;
        if !self.guard_replaced(n, qid.is_some()).await? {
            let note = " refused: the original could be neither quarantined nor marked withheld";
            return Ok((Delivery::Refused, note.into()));
        }
        let note = match &qid {
            Some(q) => format!(" quarantine={q}"),
            None if is_top => {
                " quarantine=none (TOP shows part of the message; original kept on server)".into()
            }
            None => " quarantine=none (original kept on server)".into(),
        };
        // A replaced message stays guarded; a later full RETR may quarantine it.
        if !matches!(self.replaced.get(&n), Some(Some(_))) {
            self.replaced.insert(n, qid);
        }
        Ok((Delivery::Notice(notice), note))
    }
}

/// Reads the dot-stuffed answer into the hold, comforting the client meanwhile. What the
/// server still owes (`announced` plus ".\r\n", minus what arrived) aims the socket's
/// low-water mark so the read wakes once per message.
async fn receive(
    server: &mut Conn,
    sdec: &mut codec::ResponseDecoder,
    hold: &mut Hold<'_>,
    progress: &mut Progress<'_>,
    scratch: &mut Scratch,
    announced: Option<u64>,
) -> Result<(), ProxyError> {
    let mut owed = announced.map(|size| {
        size.saturating_add(3)
            .saturating_sub(sdec.buffered() as u64)
    });
    scratch.read_buf();
    let Scratch { read: buf, out, .. } = scratch;
    loop {
        out.clear();
        let ended = sdec.block(out);
        hold.take(out).await;
        if ended {
            break;
        }
        if let Some(o) = owed {
            server.low_water.expect(&server.stream, o);
        }
        let n = hold
            .race(server.read_some(&mut buf[..]), progress)
            .await??;
        owed = owed.map(|o| o.saturating_sub(n as u64));
        sdec.push(&buf[..n]);
    }
    server.low_water.clear(&server.stream);
    Ok(())
}
