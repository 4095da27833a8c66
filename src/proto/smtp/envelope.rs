//! The envelope of an SMTP transaction (MAIL, RCPT) and the limits on it: the declared
//! SIZE, `smtp.max_recipients`, and the sending rate limits of `abuse`.
use std::time::Instant;

use crate::abuse::{Actor, Hit};
use crate::config::RateWhat;

use super::codec::{Command, Reply};
use super::driver::Smtp;

/// The envelope of the message being submitted. Accepted MAIL and RCPT commands are
/// logged once, with the message (or with the reason it never came), so a message costs
/// one log line, not one per command; refusals are logged when they happen.
#[derive(Debug, Default)]
pub struct Txn {
    pub from: String,
    /// The SIZE the client declared at MAIL, if any.
    pub size: Option<u64>,
    /// Recipients the server accepted.
    pub rcpts: Vec<String>,
    /// RCPT commands tried, accepted or not (smtp.max_recipients counts these).
    tried: usize,
}

impl Txn {
    pub fn envelope(&self) -> String {
        let to: Vec<String> = self.rcpts.iter().map(|r| format!("<{r}>")).collect();
        format!("from=<{}> to={}", self.from, to.join(","))
    }
}

/// What the driver remembers about a forwarded command until the server answers it.
#[derive(Debug)]
pub(super) enum Sent {
    Mail {
        from: String,
        size: Option<u64>,
    },
    Rcpt {
        to: String,
    },
    Rset,
    /// NOOP, VRFY, EXPN, HELP: nothing to remember.
    Other,
}

/// How a command enters a pipelined group.
#[derive(Debug)]
pub(super) enum Entry {
    /// The proxy answers it itself; nothing goes upstream.
    Local(Reply),
    Forward(Sent),
    /// Its check depends on how the commands in flight are answered: those go first.
    AfterInFlight,
}

pub(super) const RATE_LIMITED: &str = "4.7.1 portcullis: sending limit reached, try again later";

impl Smtp {
    pub(super) fn actor(&self) -> Actor<'_> {
        Actor {
            client: self.core.ctx.client_addr.0.ip(),
            user: self.core.ctx.user.as_deref(),
        }
    }

    /// Logs a limit hit in the session and raises the alert.
    pub(super) fn limit_hit(&mut self, hit: &Hit) {
        let ctx = &mut self.core.ctx;
        let actor = Actor {
            client: ctx.client_addr.0.ip(),
            user: ctx.user.as_deref(),
        };
        ctx.app
            .abuse
            .report(&mut ctx.log, hit, ctx.id.as_str(), ctx.protocol, &actor);
    }

    /// Checks a rate limit for the current actor; on a hit, alerts and gives the 450.
    fn within_rate(&mut self, what: RateWhat, amount: u64) -> Result<(), Reply> {
        let abuse = &self.core.ctx.app.abuse;
        abuse
            .check(what, amount, &self.actor(), Instant::now())
            .map_err(|hit| {
                self.limit_hit(&hit);
                Reply::new(450, RATE_LIMITED)
            })
    }

    /// The transaction in progress ends without a message: say so, with its envelope.
    pub(super) fn end_txn(&mut self, why: &str) {
        if let Some(t) = self.txn.take() {
            self.core.ctx.log.event(
                "transaction",
                &format!("{} ended without a message ({why})", t.envelope()),
            );
        }
    }

    /// MAIL: its declared SIZE and the message rate, which no command in flight changes
    /// (messages are counted when delivered, and DATA never shares a group).
    pub(super) fn mail_entry(&mut self, cmd: &Command) -> Entry {
        let max = self.core.ctx.app.cfg.limits.max_message_bytes;
        let limit = self.ext.size.unwrap_or(max);
        let declared = cmd
            .params()
            .into_iter()
            .find(|(k, _)| k == "SIZE")
            .and_then(|(_, v)| v.and_then(|v| v.parse::<u64>().ok()));
        let from = cmd.path().unwrap_or("").to_string();
        if let Some(size) = declared
            && size > limit
        {
            self.core.ctx.log.event(
                "mail",
                &format!("from=<{from}> refused: SIZE={size} above {limit}"),
            );
            let text = format!(
                "5.3.4 portcullis: message size exceeds fixed maximum message size ({limit})"
            );
            return Entry::Local(Reply::new(552, &text));
        }
        match self.within_rate(RateWhat::Messages, 1) {
            Ok(()) => Entry::Forward(Sent::Mail {
                from,
                size: declared,
            }),
            Err(r) => Entry::Local(r),
        }
    }

    pub(super) fn mail_answered(&mut self, from: String, size: Option<u64>, r: &Reply) {
        if !r.is_positive() {
            // A refused MAIL (nested, say) leaves any transaction in progress as it was.
            self.core
                .ctx
                .log
                .event("mail", &format!("from=<{from}> reply={}", r.summary()));
        } else {
            self.end_txn("a new MAIL");
            self.txn = Some(Txn {
                from,
                size,
                ..Txn::default()
            });
        }
    }

    /// RCPT: smtp.max_recipients and the recipient rate. Both depend on how the MAIL, RSET
    /// and RCPT commands still in flight (`rcpts` of them RCPT) will be answered: the RCPT
    /// joins them only when it passes whatever those answers are; otherwise it waits for
    /// them and is judged exactly as if it came alone.
    pub(super) fn rcpt_entry(&mut self, cmd: &Command, in_flight: bool, rcpts: usize) -> Entry {
        let max = self.core.ctx.app.cfg.smtp.max_recipients;
        let to = cmd.path().unwrap_or("").to_string();
        let tried = self.txn.as_ref().map(|t| t.tried);
        if in_flight {
            let most = tried.unwrap_or(0) + rcpts;
            let abuse = &self.core.ctx.app.abuse;
            let amount = 1 + rcpts as u64;
            let rate_ok = abuse
                .check(RateWhat::Recipients, amount, &self.actor(), Instant::now())
                .is_ok();
            return match most < max && rate_ok {
                true => Entry::Forward(Sent::Rcpt { to }),
                false => Entry::AfterInFlight,
            };
        }
        if tried.is_some_and(|t| t >= max) {
            let text =
                format!("4.5.3 portcullis: too many recipients (smtp.max_recipients = {max})");
            return Entry::Local(Reply::new(452, &text));
        }
        match self.within_rate(RateWhat::Recipients, 1) {
            Ok(()) => Entry::Forward(Sent::Rcpt { to }),
            Err(r) => Entry::Local(r),
        }
    }

    pub(super) fn rcpt_answered(&mut self, to: String, r: &Reply) {
        if r.is_positive() {
            let abuse = &self.core.ctx.app.abuse;
            abuse.record(RateWhat::Recipients, 1, &self.actor(), Instant::now());
        }
        let log = &mut self.core.ctx.log;
        match self.txn.as_mut() {
            Some(t) => {
                t.tried += 1;
                if r.is_positive() {
                    t.rcpts.push(to);
                } else {
                    let line = format!("from=<{}> to=<{to}> reply={}", t.from, r.summary());
                    log.event("rcpt", &line);
                }
            }
            None => log.event("rcpt", &format!("to=<{to}> reply={}", r.summary())),
        }
    }
}
