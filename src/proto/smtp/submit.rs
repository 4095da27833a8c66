//! A submitted message: received whole from the client (DATA), held and scanned before the
//! real server sees any of it, then sent upstream in one go if the verdict allows (one
//! `BDAT n LAST` when the server offers CHUNKING, DATA otherwise), or refused, in which
//! case the server's open transaction is reset and it never holds a byte of the message.
use std::time::Instant;

use crate::config::{BareLineEndings, RateWhat, SubmitAction};
use crate::error::{ProxyError, Side};
use crate::message::mime::{self, Summary};
use crate::proto::dot::Stuffer;
use crate::scan::policy;
use crate::session::deliver::{self, CHUNK, Framing, Scratch};
use crate::session::hold::{Hold, Judgement, NoComfort, Problem};
use crate::session::observe;

use super::codec::{Command, Reply};
use super::data::DataReader;
use super::driver::Smtp;
use super::envelope::{RATE_LIMITED, Txn};

/// What the log line of an accepted message says.
struct Accepted<'v> {
    envelope: String,
    verdict: &'v crate::scan::Verdict,
    action: SubmitAction,
    scan_ms: u128,
    started: Instant,
}

/// What the proxy does with a received message.
enum Outcome {
    Deliver { tag: bool },
    Refuse(Reply),
}

impl Smtp {
    pub(super) async fn data(&mut self) -> Result<(), ProxyError> {
        let mut scratch = std::mem::take(&mut self.core.scratch);
        let r = self.data_with(&mut scratch).await;
        self.core.scratch = scratch;
        r
    }

    /// The transaction DATA completes, or the reply that refuses DATA.
    fn take_txn(&mut self) -> Result<Txn, Reply> {
        match self.txn.take() {
            None => Err(Reply::new(
                503,
                "5.5.1 portcullis: need MAIL and RCPT first",
            )),
            Some(t) if t.rcpts.is_empty() => {
                self.core.ctx.log.event(
                    "transaction",
                    &format!(
                        "{} ended without a message (no accepted recipient)",
                        t.envelope()
                    ),
                );
                Err(Reply::new(554, "5.5.1 portcullis: no valid recipients"))
            }
            Some(t) => Ok(t),
        }
    }

    async fn data_with(&mut self, scratch: &mut Scratch) -> Result<(), ProxyError> {
        let txn = match self.take_txn() {
            Ok(t) => t,
            Err(r) => {
                self.reply_client(&r).await?;
                return match r.code {
                    503 => Ok(()),
                    _ => self.reset_server().await,
                };
            }
        };
        self.reply_client(&Reply::new(354, "End data with <CR><LF>.<CR><LF>"))
            .await?;
        let app = self.core.ctx.app.clone();
        let cfg = &app.cfg;
        let started = Instant::now();
        let normalise = cfg.smtp.bare_line_endings == BareLineEndings::Normalise;
        let max = cfg.limits.max_message_bytes;
        let limit = self.ext.size.unwrap_or(max).min(max);
        let mut reader = DataReader::new(normalise);
        let mut hold = Hold::begin(&app, limit, txn.size).await;
        self.receive(&mut reader, &mut hold, scratch).await?;
        self.core.ctx.messages += 1;
        let size = hold.size();
        let envelope = txn.envelope();
        if let Some(r) = self.refuse_early(&hold, &reader, limit, normalise) {
            self.core.ctx.log.event(
                "message",
                &format!(
                    "{envelope} size={size} bare_lf={} bare_cr={} refused=\"{}\"",
                    reader.bare_lf,
                    reader.bare_cr,
                    r.summary()
                ),
            );
            self.core
                .ctx
                .count_message("submission", None, "refused", size, None);
            self.reply_client(&r).await?;
            return self.reset_server().await;
        }
        let judged = hold.judge(&mut NoComfort).await?;
        self.core.ctx.scan_notes("", &judged.notes);
        let verdict = &judged.verdict;
        let action = policy::submission_action(&cfg.policy.submission, verdict);
        let head = hold
            .spool
            .head(cfg.limits.max_header_bytes)
            .map_err(ProxyError::io(Side::Local))?;
        let (decision, qnote) = self.decide(action, &mut hold, &head, &judged, &txn);
        let scan_ms = judged.elapsed.as_millis();
        let tag = match decision {
            Outcome::Deliver { tag } => tag,
            Outcome::Refuse(r) => {
                self.core.ctx.log.event(
                    "message",
                    &format!(
                        "{envelope} size={size} verdict=\"{verdict}\" action={action:?} scan_ms={scan_ms} reply=\"{}\"{qnote}",
                        r.summary()
                    ),
                );
                let counted = observe::submit_action(action);
                self.core.ctx.count_message(
                    "submission",
                    Some(verdict),
                    counted,
                    size,
                    Some(judged.elapsed),
                );
                self.reply_client(&r).await?;
                return self.reset_server().await;
            }
        };
        let facts = Accepted {
            envelope,
            verdict,
            action,
            scan_ms,
            started,
        };
        self.deliver_accepted(&head, &mut hold, &judged, tag, facts, scratch)
            .await
    }

    /// Sends a message the verdict lets through upstream and answers the client with the
    /// server's final reply.
    async fn deliver_accepted(
        &mut self,
        head: &[u8],
        hold: &mut Hold<'_>,
        judged: &Judgement,
        tag: bool,
        facts: Accepted<'_>,
        scratch: &mut Scratch,
    ) -> Result<(), ProxyError> {
        let size = hold.size();
        let (new_head, body_offset) =
            self.core
                .ctx
                .delivered_head(head, facts.verdict, &judged.engines, tag);
        self.core.ctx.check_cancel()?;
        let final_reply = self
            .send_upstream(&new_head, hold, body_offset, scratch)
            .await?;
        if final_reply.code == 250 {
            self.delivered += 1;
            let now = Instant::now();
            let abuse = &self.core.ctx.app.abuse;
            abuse.record(RateWhat::Messages, 1, &self.actor(), now);
            abuse.record(RateWhat::Bytes, size, &self.actor(), now);
        }
        // The client is answered first: the log line and the counters are not its wait.
        let replied = self.reply_client(&final_reply).await;
        let Accepted {
            envelope,
            verdict,
            action,
            scan_ms,
            started,
        } = facts;
        self.core.ctx.log.event(
            "message",
            &format!(
                "{envelope} size={size} verdict=\"{verdict}\" action={action:?} scan_ms={scan_ms} total_ms={} via={} upstream=\"{}\"",
                started.elapsed().as_millis(),
                if self.ext.chunking { "BDAT" } else { "DATA" },
                final_reply.summary()
            ),
        );
        let counted = observe::submit_action(action);
        self.core.ctx.count_message(
            "submission",
            Some(verdict),
            counted,
            size,
            Some(judged.elapsed),
        );
        replied
    }

    /// Reads the message up to the end-of-data line into the hold.
    async fn receive(
        &mut self,
        reader: &mut DataReader,
        hold: &mut Hold<'_>,
        scratch: &mut Scratch,
    ) -> Result<(), ProxyError> {
        scratch.read_buf();
        let Scratch { read: buf, out, .. } = scratch;
        let client = &mut self.core.client;
        loop {
            out.clear();
            let pending = client.buf.pending();
            let end = reader.feed(pending, |d| out.extend_from_slice(d));
            client.buf.consume(end.unwrap_or(pending.len()));
            hold.take(out).await;
            if end.is_some() {
                return Ok(());
            }
            if hold.overrun() {
                return Err(hold.overrun_error(Side::Client));
            }
            let n = client.read_some(&mut buf[..]).await?;
            client.buf.push(&buf[..n]);
        }
    }

    /// A refusal decided before any scan: size, line endings, spool, byte rate.
    fn refuse_early(
        &mut self,
        hold: &Hold<'_>,
        reader: &DataReader,
        limit: u64,
        normalise: bool,
    ) -> Option<Reply> {
        let reply = |code, text: String| Some(Reply::new(code, &text));
        match hold.problem() {
            Some(Problem::TooLarge { .. }) => {
                return reply(
                    552,
                    format!(
                        "5.3.4 portcullis: message size exceeds fixed maximum message size ({limit})"
                    ),
                );
            }
            Some(Problem::Spool(e)) => {
                self.core.ctx.log.event("spool", &format!("local: {e}"));
                return reply(451, "4.3.0 portcullis: local error, try again later".into());
            }
            None => {}
        }
        if !reader.clean() && !normalise {
            return reply(
                554,
                format!(
                    "5.6.0 portcullis: message has bare CR or LF line endings ({} LF, {} CR); use CRLF",
                    reader.bare_lf, reader.bare_cr
                ),
            );
        }
        let abuse = &self.core.ctx.app.abuse;
        match abuse.check(RateWhat::Bytes, hold.size(), &self.actor(), Instant::now()) {
            Ok(()) => None,
            Err(hit) => {
                self.limit_hit(&hit);
                reply(450, RATE_LIMITED.into())
            }
        }
    }

    /// Maps the verdict to an outcome, quarantining where the action hides the message.
    fn decide(
        &mut self,
        action: SubmitAction,
        hold: &mut Hold<'_>,
        head: &[u8],
        judged: &Judgement,
        txn: &Txn,
    ) -> (Outcome, String) {
        let verdict = &judged.verdict;
        let mut keep = || {
            let facts = Summary {
                from: txn.from.clone(),
                to: txn.rcpts.join(", "),
                subject: mime::summary(head).subject,
                ..Summary::default()
            };
            self.core.ctx.quarantine(&mut hold.spool, &facts, verdict)
        };
        match action {
            SubmitAction::Pass => (Outcome::Deliver { tag: false }, String::new()),
            SubmitAction::Tag => (Outcome::Deliver { tag: true }, String::new()),
            SubmitAction::Reject => {
                let qnote = keep()
                    .map(|q| format!(" quarantine={q}"))
                    .unwrap_or_default();
                let text = format!("5.7.1 portcullis: message rejected: {verdict}");
                (Outcome::Refuse(Reply::new(554, &text)), qnote)
            }
            SubmitAction::Tempfail => {
                let text = format!(
                    "4.7.1 portcullis: message not accepted now: {verdict}; try again later"
                );
                (Outcome::Refuse(Reply::new(451, &text)), String::new())
            }
            SubmitAction::Discard => match keep() {
                Some(q) => (
                    Outcome::Refuse(Reply::new(250, "2.0.0 portcullis: message accepted")),
                    format!(" quarantine={q}"),
                ),
                // Discarding without a kept copy would lose the mail: the sender retries.
                None => (
                    Outcome::Refuse(Reply::new(
                        451,
                        "4.3.0 portcullis: message could not be kept, try again later",
                    )),
                    String::new(),
                ),
            },
        }
    }

    /// Sends a message whose verdict allows delivery and returns the server's final reply.
    /// With CHUNKING one `BDAT n LAST` carries it, raw, in a single round trip; otherwise
    /// DATA, a wait for 354, and the dot-stuffed message.
    async fn send_upstream(
        &mut self,
        head: &[u8],
        hold: &mut Hold<'_>,
        body_offset: u64,
        scratch: &mut Scratch,
    ) -> Result<Reply, ProxyError> {
        scratch.out.clear();
        let framing = if self.ext.chunking {
            // BDAT goes without `ask`, which checks this for DATA.
            self.unasked().await?;
            let size = head.len() as u64 + hold.spool.len() - body_offset;
            scratch
                .out
                .extend_from_slice(format!("BDAT {size} LAST\r\n").as_bytes());
            Framing::Raw
        } else {
            let r = self.ask(b"DATA\r\n").await?;
            if r.code != 354 {
                // A refusal is the message's answer; any other go-ahead means the server
                // and the proxy no longer agree on where the session stands.
                if r.code < 400 {
                    return Err(ProxyError::protocol(
                        Side::Server,
                        format!("answered DATA with {}, not 354", r.code),
                    ));
                }
                return Ok(r);
            }
            Framing::Dotted(Stuffer::default())
        };
        let server = &mut self.core.server;
        deliver::send_message(server, scratch, head, &mut hold.spool, body_offset, framing).await?;
        self.server_reply().await
    }

    /// BDAT is not offered (CHUNKING is removed from EHLO). A client that sends it anyway
    /// has its chunk read and dropped, so chunk bytes are never taken for commands. A
    /// chunk size that cannot be read, or is over the limit, cannot be skipped safely:
    /// the session ends with the reply that says why.
    pub(super) async fn refuse_bdat(&mut self, cmd: &Command) -> Result<(), ProxyError> {
        let limit = self.core.ctx.app.cfg.limits.max_message_bytes;
        let Some(size) = cmd
            .args
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return Err(ProxyError::protocol(
                Side::Client,
                "BDAT without a chunk size",
            ));
        };
        if size > limit {
            return Err(ProxyError::TooLarge {
                side: Side::Client,
                what: "limits.max_message_bytes (BDAT chunk)",
                limit,
            });
        }
        let client = &mut self.core.client;
        let mut left = size;
        let take = (client.buf.pending().len() as u64).min(left);
        client.buf.consume(take as usize);
        left -= take;
        let mut buf = vec![0u8; CHUNK];
        while left > 0 {
            let want = (left as usize).min(buf.len());
            left -= client.read_some(&mut buf[..want]).await? as u64;
        }
        self.end_txn("BDAT refused");
        let r = Reply::new(
            502,
            "5.5.1 portcullis: BDAT is not available here, use DATA",
        );
        self.reply_client(&r).await?;
        // The server holds MAIL/RCPT state for the dropped transaction: clear it.
        self.reset_server().await
    }
}
