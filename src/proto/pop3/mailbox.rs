//! What a POP3 session must remember about the mailbox: unique ids, and which messages
//! were replaced by a notice, so that a DELE never removes an original that was not
//! durably quarantined (in this session or, through the withheld registry, any later one).
use crate::error::ProxyError;
use crate::proto::lines::trim_eol;
use crate::withheld::MailboxKey;

use super::codec::{Command, Status};
use super::driver::Pop3;

const WITHHELD: &[u8] = b"-ERR [SYS/TEMP] portcullis: this message was withheld and is kept on the server until an administrator reviews it\r\n";

impl Pop3 {
    /// The server's UIDL for message `n`, asking the server if the client has not.
    async fn uidl_of(&mut self, n: u32) -> Result<Option<String>, ProxyError> {
        if let Some(u) = self.uidls.get(&n) {
            return Ok(Some(u.clone()));
        }
        let (st, resp) = self.ask(format!("UIDL {n}\r\n").as_bytes()).await?;
        if st != Status::Ok {
            return Ok(None);
        }
        let t = String::from_utf8_lossy(trim_eol(&resp)).into_owned();
        let uid = t.split_whitespace().nth(2).map(String::from);
        if let Some(u) = &uid {
            self.uidls.insert(n, u.clone());
        }
        Ok(uid)
    }

    /// The mailbox the session reads: the one a SASL login acts for, else the user's.
    fn mailbox(&self) -> MailboxKey {
        let user = self.acts_as.as_deref().or(self.core.ctx.user.as_deref());
        MailboxKey::for_user(user.unwrap_or("-"))
    }

    /// Message `n` was delivered whole: whatever guarded it (a notice for its TOP, or a
    /// marker an earlier session left) no longer holds its DELE back.
    pub(super) async fn unguard(&mut self, n: u32) -> Result<(), ProxyError> {
        let app = self.core.ctx.app.clone();
        let key = self.mailbox();
        let here = self.replaced.remove(&n).is_some();
        // Most clients list UIDLs first: then one file test answers, not a directory scan.
        let listed = self.uidls.contains_key(&n);
        if !listed && !here && !app.withheld.any_for(&key).unwrap_or(false) {
            return Ok(());
        }
        let Some(uidl) = self.uidl_of(n).await? else {
            return Ok(());
        };
        if app.withheld.contains(&key, &uidl)
            && let Err(e) = app.withheld.clear(&key, &uidl)
        {
            self.core.ctx.log.event(
                "withheld",
                &format!("local: cannot clear message={n} uidl={uidl}: {e}"),
            );
        }
        Ok(())
    }

    /// Makes sure message `n`, replaced by a notice, stays guarded across sessions before
    /// the client sees the notice: a quarantined original clears any old marker; one that
    /// was not quarantined gets a durable marker. False when it cannot be guarded (no
    /// UIDL, or the marker cannot be written): then the notice must not be served.
    pub(super) async fn guard_replaced(
        &mut self,
        n: u32,
        quarantined: bool,
    ) -> Result<bool, ProxyError> {
        let app = self.core.ctx.app.clone();
        let key = self.mailbox();
        if quarantined && !app.withheld.any_for(&key).unwrap_or(true) {
            return Ok(true);
        }
        let Some(uidl) = self.uidl_of(n).await? else {
            if !quarantined {
                self.core.ctx.log.event(
                    "withheld",
                    &format!("message={n} server gives no UIDL: cannot guard it across sessions"),
                );
            }
            return Ok(quarantined);
        };
        let r = if quarantined {
            app.withheld.clear(&key, &uidl)
        } else {
            app.withheld.mark(&key, &uidl, &self.core.ctx.server_addr)
        };
        match r {
            Ok(()) => Ok(true),
            Err(e) => {
                self.core.ctx.log.event(
                    "withheld",
                    &format!("local: cannot record message={n} uidl={uidl}: {e}"),
                );
                // A stale marker only keeps a quarantined message on the server longer.
                Ok(quarantined)
            }
        }
    }

    /// Whether message `n` must stay on the server.
    async fn withheld(&mut self, n: u32) -> Result<bool, ProxyError> {
        if matches!(self.replaced.get(&n), Some(None)) {
            return Ok(true);
        }
        let app = self.core.ctx.app.clone();
        let key = self.mailbox();
        if !app.withheld.any_for(&key).unwrap_or(true) {
            return Ok(false);
        }
        Ok(match self.uidl_of(n).await? {
            Some(uidl) => app.withheld.contains(&key, &uidl),
            None => false,
        })
    }

    pub(super) async fn dele(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        let n = cmd.msg_number().unwrap_or(0);
        if self.withheld(n).await? {
            self.core.ctx.log.event(
                "dele",
                &format!(
                    "message={n} refused: replaced but original not quarantined, kept on server"
                ),
            );
            return self.send_client(WITHHELD).await;
        }
        let (st, resp) = self.ask(line).await?;
        self.send_client(&resp).await?;
        if let Some(Some(q)) = self.replaced.get(&n) {
            let q = q.clone();
            self.core.ctx.log.event(
                "dele",
                &format!(
                    "message={n} quarantine={q} server_answer={}",
                    if st == Status::Ok { "ok" } else { "err" }
                ),
            );
        }
        Ok(())
    }
}
