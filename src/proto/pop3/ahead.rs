//! The POP3 driver's side of look-ahead (see `lookahead` for when it engages): waiting
//! for the client's next command while reading answers fetched ahead, and settling every
//! owed answer before the answer to a command the client waits for is read.
use crate::error::ProxyError;
use crate::session::Core;

use super::codec::{Command, Verb};
use super::driver::Pop3;
use super::lookahead::Budget;

impl Pop3 {
    pub(super) fn budget(&self) -> Budget {
        let p = &self.core.ctx.app.cfg.pop3;
        Budget {
            depth: p.lookahead_depth,
            max_bytes: p.lookahead_max_bytes,
            max_message_bytes: p.lookahead_max_message_bytes,
        }
    }

    fn take_notes(&mut self, notes: Vec<String>) {
        for n in notes {
            self.core.ctx.log.event("lookahead", &n);
        }
    }

    /// Reads every answer still owed for commands sent ahead.
    pub(super) async fn settle(&mut self) -> Result<(), ProxyError> {
        let budget = self.budget();
        let mut notes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            self.ahead.advance(&mut self.sdec, budget, &mut notes)?;
            if self.ahead.settled() {
                break;
            }
            self.server_fill(&mut buf).await?;
        }
        self.take_notes(notes);
        Ok(())
    }

    /// The client's next command, reading answers fetched ahead while it is busy.
    pub(super) async fn next_command(&mut self) -> Result<Option<Vec<u8>>, ProxyError> {
        let budget = self.budget();
        let mut buf = vec![0u8; 16 * 1024];
        let mut notes = Vec::new();
        let line = loop {
            if self.ahead.settled() {
                break self.core.command().await;
            }
            if let Some(l) = self.core.client.buffered_line()? {
                break Ok(Some(l));
            }
            let Core {
                client,
                server,
                ctx,
                ..
            } = &mut self.core;
            if *ctx.shutdown.borrow() {
                break Err(ProxyError::Shutdown);
            }
            tokio::select! {
                r = client.fill() => if !r? {
                    break Ok(None);
                },
                r = server.read_some(&mut buf) => {
                    let n = r?;
                    self.sdec.push(&buf[..n]);
                    self.ahead.advance(&mut self.sdec, budget, &mut notes)?;
                }
                _ = ctx.shutdown.changed() => {}
            }
        };
        self.take_notes(notes);
        line
    }

    /// Drops what was fetched ahead when the client's command goes elsewhere.
    pub(super) fn client_goes_to(&mut self, cmd: &Command) {
        let elsewhere = match cmd.verb {
            Verb::Retr => !cmd.msg_number().is_some_and(|n| self.ahead.has(n)),
            Verb::Top | Verb::Rset | Verb::Quit => true,
            _ => false,
        };
        if elsewhere {
            self.ahead.forget();
        }
    }

    /// After the client retrieved `n`: fetch the next messages ahead, when it engages.
    pub(super) async fn look_ahead(&mut self, n: u32) -> Result<(), ProxyError> {
        let cfg = &self.core.ctx.app.cfg.pop3;
        let caps = self.ahead.caps;
        if !cfg.lookahead || !caps.pipelining || !caps.top || !self.core.client.buf.is_empty() {
            return Ok(());
        }
        let budget = self.budget();
        let sizes = &self.sizes;
        let cmds = self.ahead.plan(n, |m| sizes.get(&m).copied(), budget);
        if cmds.is_empty() {
            return Ok(());
        }
        self.send_server(&cmds).await
    }
}
