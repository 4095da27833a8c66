//! APPEND: the proxy answers the client's `+` itself, holds the message, judges it, and
//! only then sends the command upstream. A clean message is stored byte-identical; a
//! message the submission policy refuses gets a tagged NO and the server stores nothing.
use super::client::{Part, reply};
use super::command::{Command, Kind};
use super::driver::{Imap, Pending, Waiting};
use super::forward::{announce_literal, eol_of};
use super::framing::{Announce, Event};
use super::held::Keepalive;
use super::lex::split_line;
use crate::config::SubmitAction;
use crate::error::{ProxyError, Side};
use crate::message::mime;
use crate::scan::policy;
use crate::session::deliver::{self, Framing};
use crate::session::hold::{Hold, Judgement, Problem};

impl Imap {
    /// The APPEND `cmd` announced its message literal `a`.
    pub(super) async fn append(&mut self, cmd: Command, a: Announce) -> Result<(), ProxyError> {
        let app = self.core.ctx.app.clone();
        let limit = app.cfg.limits.max_message_bytes;
        let mut hold = Hold::begin(&app, limit, Some(a.size)).await;
        if a.sync {
            self.cfr.continue_literal();
            self.send_client(b"+ Ready for the message\r\n").await?;
        }
        let mut done = false;
        while !done {
            match self.cfr.next_event() {
                Ok(Some(Event::Literal { bytes })) => {
                    hold.take(bytes).await;
                    done = true;
                }
                Ok(Some(Event::LiteralChunk { bytes, last })) => {
                    hold.take(bytes).await;
                    done = last;
                }
                Ok(Some(_)) => return Err(unexpected()),
                Ok(None) => self.client_more().await?,
                Err(_) => return Err(unexpected()),
            }
        }
        let (tail, more) = loop {
            match self.cfr.next_event() {
                Ok(Some(Event::Line {
                    bytes, announce, ..
                })) => break (bytes.to_vec(), announce),
                Ok(Some(Event::Refused { .. })) => {
                    self.reader.clear();
                    self.gathered = Default::default();
                    let r = reply(&cmd.tag, "BAD", "command line too long; nothing was stored");
                    return self.send_client(&r).await;
                }
                Ok(Some(_)) | Err(_) => return Err(unexpected()),
                Ok(None) => self.client_more().await?,
            }
        };
        if let Some(next) = more {
            return self.refuse_multiappend(&cmd.tag, next).await;
        }
        self.reader.clear();
        let parts = std::mem::take(&mut self.gathered).parts;
        let judged = {
            let mut k = Keepalive {
                client: &mut self.core.client,
            };
            hold.judge(&mut k).await?
        };
        self.judged_append(cmd, parts, tail, &mut hold, &judged)
            .await
    }

    /// A second message in one APPEND (MULTIAPPEND, not offered): the whole command is
    /// refused and nothing is stored.
    async fn refuse_multiappend(&mut self, tag: &str, next: Announce) -> Result<(), ProxyError> {
        let r = reply(
            tag,
            "NO [CANNOT]",
            "MULTIAPPEND is not available through this gateway; nothing was stored",
        );
        self.reader.clear();
        self.gathered = Default::default();
        if next.sync {
            self.cfr.refuse_literal();
            return self.send_client(&r).await;
        }
        // Its literal still comes: consumed, then the answer.
        self.gathered.refusal = Some(r);
        Ok(())
    }

    async fn judged_append(
        &mut self,
        cmd: Command,
        mut parts: Vec<Part>,
        tail: Vec<u8>,
        hold: &mut Hold<'_>,
        judged: &Judgement,
    ) -> Result<(), ProxyError> {
        let app = self.core.ctx.app.clone();
        let cfg = &app.cfg;
        let verdict = &judged.verdict;
        self.core.ctx.scan_notes("append ", &judged.notes);
        let mut action = policy::submission_action(&cfg.policy.submission, verdict);
        let size = hold.size();
        let head = hold
            .spool
            .head(cfg.limits.max_header_bytes)
            .map_err(ProxyError::io(Side::Local))?;
        let tag = cmd.tag.as_str();
        let mut note = String::new();
        let answer = match (hold.problem(), action) {
            (Some(Problem::TooLarge { limit }), _) => Some(reply(
                tag,
                "NO [TOOBIG]",
                &format!(
                    "the message is larger than the gateway can check ({limit} bytes); nothing was stored"
                ),
            )),
            (Some(Problem::Spool(_)), _) => Some(reply(
                tag,
                "NO [UNAVAILABLE]",
                "the message cannot be checked now; try again later",
            )),
            (None, SubmitAction::Reject | SubmitAction::Discard) => {
                action = SubmitAction::Reject;
                if let Some(q) =
                    self.core
                        .ctx
                        .quarantine(&mut hold.spool, &mime::summary(&head), verdict)
                {
                    note = format!(" quarantine={q}");
                }
                Some(reply(
                    tag,
                    "NO",
                    &format!("message refused ({verdict}); nothing was stored"),
                ))
            }
            (None, SubmitAction::Tempfail) => Some(reply(
                tag,
                "NO [UNAVAILABLE]",
                &format!("the message cannot be accepted now ({verdict}); try again later"),
            )),
            (None, SubmitAction::Pass | SubmitAction::Tag) => None,
        };
        let mailbox = match &cmd.kind {
            Kind::Append { mailbox, .. } => mailbox.clone(),
            _ => String::new(),
        };
        self.core.ctx.messages += 1;
        self.stats.appends += 1;
        self.core.ctx.log.event(
            "message",
            &format!(
                "command=APPEND mailbox=\"{mailbox}\" size={size} verdict=\"{verdict}\" action={action:?} scan_ms={}{note}",
                judged.elapsed.as_millis()
            ),
        );
        let counted = match (&answer, hold.problem()) {
            (Some(_), Some(_)) => "refused",
            _ => crate::session::observe::submit_action(action),
        };
        self.core.ctx.count_message(
            "submission",
            Some(verdict),
            counted,
            size,
            Some(judged.elapsed),
        );
        if let Some(r) = answer {
            return self.send_client(&r).await;
        }
        let (new_head, body_offset) = if action == SubmitAction::Tag {
            self.core
                .ctx
                .delivered_head(&head, verdict, &judged.engines, true)
        } else {
            (Vec::new(), 0)
        };
        let total = new_head.len() as u64 + hold.spool.len() - body_offset;
        if let Some(Part::Line(last)) = parts.last_mut() {
            let (text, announce) = split_line(last);
            let binary = announce.is_some_and(|(_, b)| b);
            let mut line = Vec::new();
            announce_literal(&mut line, text, total, binary, false, eol_of(last));
            *last = line;
        }
        self.pending.push(Pending {
            tag: cmd.tag.clone(),
            what: Waiting::Append,
        });
        if !self.forward(parts, Some(tag)).await? {
            return Ok(());
        }
        // The send buffers are not kept: an IMAP session lives for hours and appends
        // rarely, so it should not hold a message's worth of buffers while it waits.
        let mut scratch = deliver::Scratch::default();
        let server = &mut self.core.server;
        deliver::send_message(
            server,
            &mut scratch,
            &new_head,
            &mut hold.spool,
            body_offset,
            Framing::Raw,
        )
        .await?;
        self.send_server(&tail).await
    }
}

fn unexpected() -> ProxyError {
    ProxyError::protocol(
        Side::Client,
        "the APPEND message literal did not arrive as announced",
    )
}
