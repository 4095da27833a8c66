//! The envelope of an SMTP transaction (MAIL, RCPT) and the limits on it: the declared
//! SIZE, `smtp.max_recipients`, and the sending rate limits of `abuse`.
use std::time::Instant;

use crate::abuse::{Actor, Hit};
use crate::config::RateWhat;
use crate::error::ProxyError;

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

    /// Checks a rate limit for the current actor; on a hit, answers 450 and alerts.
    async fn within_rate(&mut self, what: RateWhat, amount: u64) -> Result<bool, ProxyError> {
        let abuse = &self.core.ctx.app.abuse;
        match abuse.check(what, amount, &self.actor(), Instant::now()) {
            Ok(()) => Ok(true),
            Err(hit) => {
                self.limit_hit(&hit);
                self.reply_client(&Reply::new(450, RATE_LIMITED)).await?;
                Ok(false)
            }
        }
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

    pub(super) async fn mail(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
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
            return self.reply_client(&Reply::new(552, &text)).await;
        }
        if !self.within_rate(RateWhat::Messages, 1).await? {
            return Ok(());
        }
        let r = self.relay(line).await?;
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
                size: declared,
                ..Txn::default()
            });
        }
        Ok(())
    }

    pub(super) async fn rcpt(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        let max = self.core.ctx.app.cfg.smtp.max_recipients;
        if self.txn.as_ref().is_some_and(|t| t.tried >= max) {
            let text =
                format!("4.5.3 portcullis: too many recipients (smtp.max_recipients = {max})");
            return self.reply_client(&Reply::new(452, &text)).await;
        }
        if !self.within_rate(RateWhat::Recipients, 1).await? {
            return Ok(());
        }
        let r = self.relay(line).await?;
        let to = cmd.path().unwrap_or("").to_string();
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
        Ok(())
    }
}
