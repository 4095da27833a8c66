//! Relaying MAIL, RCPT, RSET and the like. When the server offers PIPELINING, every
//! command the client already sent that may join a pipelined group (RFC 2920 §3.1) goes
//! upstream in one write after the proxy's own checks, and the answers go back in one
//! write, in the client's order; without it, one command at a time. The proxy's RSET of
//! its own (after a refused message) is not waited for when the server pipelines: its
//! reply is read before the next one.
use std::future::Future;
use std::task::Poll;

use crate::error::{ProxyError, Side};

use super::codec::{Command, CommandError, Reply, Verb};
use super::driver::Smtp;
use super::envelope::{Entry, Sent};
use super::pipeline::{Group, Place, place};

/// A command line and what it parsed to.
pub(super) type Parsed = (Result<Command, CommandError>, Vec<u8>);

impl Smtp {
    /// `first` and the buffered commands behind it that may share its group.
    pub(super) async fn pipelined(&mut self, first: Parsed) -> Result<(), ProxyError> {
        let max = match self.ext.pipelining {
            true => self.core.ctx.app.cfg.smtp.max_pipelined_commands,
            false => 1,
        };
        let mut g = Group::default();
        let mut next = Some(first);
        while let Some((parsed, line)) = next.take() {
            let last = match parsed {
                Err(e) => {
                    g.local(self.refusal(&e));
                    false
                }
                Ok(cmd) => {
                    let entry = loop {
                        match self.entry(&cmd, &g) {
                            Entry::AfterInFlight => self.flush(&mut g).await?,
                            e => break e,
                        }
                    };
                    match entry {
                        Entry::Local(r) => g.local(r),
                        Entry::Forward(sent) => g.forward(&line, sent),
                        Entry::AfterInFlight => {}
                    }
                    place(cmd.verb) == Place::Last
                }
            };
            if last || g.len() >= max {
                break;
            }
            next = self.next_member().await?;
        }
        self.flush(&mut g).await
    }

    /// How `cmd` enters a group whose forwarded commands are not answered yet.
    fn entry(&mut self, cmd: &Command, g: &Group<Sent>) -> Entry {
        match cmd.verb {
            Verb::Mail => self.mail_entry(cmd),
            Verb::Rcpt => {
                let rcpts = g
                    .in_flight()
                    .filter(|s| matches!(s, Sent::Rcpt { .. }))
                    .count();
                let in_flight = g.in_flight().next().is_some();
                self.rcpt_entry(cmd, in_flight, rcpts)
            }
            Verb::Rset => Entry::Forward(Sent::Rset),
            _ => Entry::Forward(Sent::Other),
        }
    }

    /// The next command the client already sent, if it may join the group. One that must
    /// go alone is kept for the command loop; a line that cannot be read ends the group and
    /// is met again there.
    async fn next_member(&mut self) -> Result<Option<Parsed>, ProxyError> {
        let client = &mut self.core.client;
        if !client.buf.pending().contains(&b'\n') {
            // What already arrived but was not read yet: one poll, never a wait (a zero
            // timeout would wait for the timer's next tick).
            let mut fill = std::pin::pin!(client.fill());
            match std::future::poll_fn(|cx| Poll::Ready(fill.as_mut().poll(cx))).await {
                Poll::Ready(r) => {
                    r?;
                }
                Poll::Pending => return Ok(None),
            }
        }
        let Ok(Some(line)) = client.buffered_line() else {
            return Ok(None);
        };
        match Command::parse(&line) {
            Ok(c) if place(c.verb) == Place::Alone => {
                self.pushback = Some(line);
                Ok(None)
            }
            parsed => Ok(Some((parsed, line))),
        }
    }

    /// Sends the group's forwarded commands in one write, reads their replies and answers
    /// every command of the group in order; the group is empty afterwards.
    async fn flush(&mut self, g: &mut Group<Sent>) -> Result<(), ProxyError> {
        let mut g = std::mem::take(g);
        let up = g.take_upstream();
        if !up.is_empty() {
            self.unasked().await?;
            self.core.server.send(&up).await?;
            self.read_resets().await?;
            while !g.complete() {
                let Some(line) = self.core.server.line().await? else {
                    return Err(ProxyError::Closed { side: Side::Server });
                };
                g.push_line(&line)
                    .map_err(|e| ProxyError::protocol(Side::Server, format!("{:?}", e.0)))?;
            }
        }
        let mut out = Vec::new();
        for (sent, r) in g.answers() {
            match sent {
                Some(Sent::Mail { from, size }) => self.mail_answered(from, size, &r),
                Some(Sent::Rcpt { to }) => self.rcpt_answered(to, &r),
                Some(Sent::Rset) => self.end_txn("RSET"),
                Some(Sent::Other) | None => {}
            }
            out.extend_from_slice(&r.encode());
        }
        self.core.client.send(&out).await
    }

    /// The reply to an unusable command, logged.
    pub(super) fn refusal(&mut self, e: &CommandError) -> Reply {
        self.core
            .ctx
            .log
            .event("refused", &format!("client command refused: {e:?}"));
        match e {
            CommandError::Unknown(_) => Reply::new(502, "5.5.2 portcullis: command not recognized"),
            CommandError::Malformed => Reply::new(500, "5.5.2 portcullis: malformed command"),
        }
    }

    /// Ends the server's open transaction without a message. With PIPELINING the RSET is
    /// not waited for: its reply is read before the next reply the proxy needs.
    pub(super) async fn reset_server(&mut self) -> Result<(), ProxyError> {
        self.core.server.send(b"RSET\r\n").await?;
        self.resets_unread += 1;
        if !self.ext.pipelining {
            self.read_resets().await?;
        }
        Ok(())
    }

    /// Reads the replies to the proxy's own RSETs still unread.
    pub(super) async fn read_resets(&mut self) -> Result<(), ProxyError> {
        while self.resets_unread > 0 {
            let r = self.next_reply().await?;
            self.resets_unread -= 1;
            if !r.is_positive() {
                self.core.ctx.log.event(
                    "rset",
                    &format!("server answered RSET with {}", r.summary()),
                );
            }
        }
        Ok(())
    }
}
