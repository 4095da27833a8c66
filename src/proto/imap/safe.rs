//! The safe version of a fetched message: what the verdict (fresh, or remembered for the
//! message) lets the client see, with the original quarantined before a notice is served.
use super::driver::Imap;
use super::plan::Known;
use crate::config::DownloadAction;
use crate::error::{ProxyError, Side};
use crate::message::mime;
use crate::message::spool::Spool;
use crate::scan::policy;
use crate::session::hold::{Hold, Judgement, Problem};
use crate::verdict_cache::{MessageKey, Remembered};

/// What the client is served for a fetched message.
pub(super) enum Safe {
    /// The original: the whole message with a new head (scan header), sections and ranges
    /// from the original bytes, exactly as the server has them.
    Original { head: Vec<u8>, body_offset: u64 },
    /// The tagged version (spam headers, subject tag), whole and in sections.
    Tagged(Spool),
    /// A notice in place of the message; the original is in quarantine.
    Notice(Vec<u8>),
    /// Nothing: the FETCH ends with a temporary NO for this reason.
    Refused(String),
}

/// The last message a client fetched in pieces, kept with its safe version so the next
/// pieces are served without fetching it again (clients fetch large messages in ranges).
pub(super) struct Copy {
    pub uid: u32,
    /// Its sequence number, until an expunge may have changed it.
    pub seq: Option<u32>,
    pub mailbox: String,
    pub uid_validity: Option<u32>,
    pub spool: Spool,
    pub safe: Safe,
}

/// Where a fetched message came from, for its log line.
pub(super) struct Fetched {
    pub seq: u32,
    pub uid: Option<u32>,
    pub key: Option<MessageKey>,
    /// The verdict was remembered, not scanned again.
    pub cached: bool,
}

impl Imap {
    /// Whether the session's copy is the message a FETCH of `set` names.
    pub(super) fn copy_matches(&self, uid: bool, set: &str) -> bool {
        let (Some(c), Some(sel), Ok(n)) = (&self.copy, &self.mailbox, set.parse::<u32>()) else {
            return false;
        };
        let same = c.mailbox == sel.name && c.uid_validity == sel.uid_validity;
        same && if uid { c.uid == n } else { c.seq == Some(n) }
    }

    /// What the session knows of the messages a FETCH of `set` names: whether it holds
    /// the message, and whether one of them is known to be replaced (by the session's
    /// copy or a remembered verdict; UID sets only, up to `KNOWN_UIDS` of them).
    pub(super) fn known(&self, uid: bool, set: &str) -> Known {
        let have_copy = self.copy_matches(uid, set);
        let copy_replaced = have_copy
            && self
                .copy
                .as_ref()
                .is_some_and(|c| matches!(c.safe, Safe::Notice(_)));
        let remembered = uid
            && uids_of(set, KNOWN_UIDS)
                .is_some_and(|uids| uids.into_iter().any(|u| self.replaced_uid(Some(u))));
        Known {
            have_copy,
            replaced: copy_replaced || remembered,
        }
    }

    /// Whether the message with UID `uid` in the selected mailbox is remembered as one
    /// the download policy replaces.
    pub(super) fn replaced_uid(&self, uid: Option<u32>) -> bool {
        let app = &self.core.ctx.app;
        self.message_key(uid)
            .and_then(|k| app.verdicts.get(&k))
            .is_some_and(|r| {
                policy::download_action(&app.cfg.policy.download, &r.verdict)
                    == DownloadAction::Replace
            })
    }

    /// The message key of UID `uid` in the selected mailbox, when the session knows it.
    pub(super) fn message_key(&self, uid: Option<u32>) -> Option<MessageKey> {
        let sel = self.mailbox.as_ref()?;
        Some(MessageKey {
            server: self.core.ctx.server_addr,
            user: self
                .acts_as
                .clone()
                .or_else(|| self.core.ctx.user.clone())?,
            mailbox: sel.name.clone(),
            uid_validity: sel.uid_validity?,
            uid: uid?,
        })
    }

    /// Decides what the client gets for a held message, quarantining first where the
    /// verdict replaces it, and logs and counts it.
    pub(super) async fn decide_download(
        &mut self,
        hold: &mut Hold<'_>,
        judged: &Judgement,
        remembered: Option<Remembered>,
        at: &Fetched,
    ) -> Result<Safe, ProxyError> {
        let app = self.core.ctx.app.clone();
        let cfg = &app.cfg;
        let verdict = &judged.verdict;
        let action = policy::download_action(&cfg.policy.download, verdict);
        let head = hold
            .spool
            .head(cfg.limits.max_header_bytes)
            .map_err(ProxyError::io(Side::Local))?;
        let (mut qid, mut quotes) = remembered
            .map(|r| (r.quarantine, r.notice_quotes))
            .unwrap_or_default();
        let safe = match (hold.problem(), action) {
            (Some(Problem::Spool(_)), _) => {
                Safe::Refused("the message cannot be held for checking now; try again later".into())
            }
            (Some(Problem::TooLarge { limit }), _) => Safe::Refused(format!(
                "a message is larger than the gateway can check (limits.max_message_bytes = {limit})"
            )),
            (None, DownloadAction::Replace) => {
                let sum = mime::summary(&head);
                if qid.is_none() {
                    qid = self.core.ctx.quarantine(&mut hold.spool, &sum, verdict);
                }
                match &qid {
                    None => Safe::Refused(
                        "a message could not be kept in quarantine; try again later".into(),
                    ),
                    Some(q) => {
                        let ctx = &mut self.core.ctx;
                        let scan_header = ctx.scan_header(verdict, &judged.engines);
                        let q = q.clone();
                        let (notice, quoted) = ctx
                            .safe_notice(&head, sum, verdict, Some(&q), &scan_header, quotes)
                            .await;
                        quotes = Some(quoted);
                        Safe::Notice(notice)
                    }
                }
            }
            (None, action) => {
                let tag = action == DownloadAction::Tag;
                let (new_head, body_offset) =
                    self.core
                        .ctx
                        .delivered_head(&head, verdict, &judged.engines, tag);
                if tag {
                    Safe::Tagged(tagged_copy(&app, &new_head, &mut hold.spool, body_offset)?)
                } else {
                    Safe::Original {
                        head: new_head,
                        body_offset,
                    }
                }
            }
        };
        if let (Some(key), false, None) = (&at.key, at.cached, hold.problem())
            && !matches!(safe, Safe::Refused(_))
        {
            app.verdicts.put(
                key.clone(),
                Remembered {
                    verdict: verdict.clone(),
                    engines: judged.engines.clone(),
                    quarantine: qid.clone(),
                    notice_quotes: quotes,
                },
            );
        }
        self.log_download(hold, judged, action, &safe, qid.as_ref(), at);
        Ok(safe)
    }

    fn log_download(
        &mut self,
        hold: &Hold<'_>,
        judged: &Judgement,
        action: DownloadAction,
        safe: &Safe,
        qid: Option<&crate::ids::QuarantineId>,
        at: &Fetched,
    ) {
        let verdict = &judged.verdict;
        let size = hold.spool.len();
        self.core.ctx.messages += 1;
        *self.stats.verdicts.entry(verdict.kind()).or_insert(0) += 1;
        self.stats.cache_hits += u64::from(at.cached);
        let mailbox = self.mailbox.as_ref();
        let note = match (safe, qid) {
            (Safe::Refused(why), _) => format!(" refused=\"{why}\""),
            (_, Some(q)) => format!(" quarantine={q}"),
            _ => String::new(),
        };
        self.core.ctx.log.event(
            "message",
            &format!(
                "command=FETCH mailbox=\"{}\" uidvalidity={} seq={} uid={} size={size} verdict=\"{verdict}\" action={action:?} cache={} scan_ms={}{note}",
                mailbox.map_or("-", |m| m.name.as_str()),
                mailbox.and_then(|m| m.uid_validity).map_or("-".into(), |v| v.to_string()),
                at.seq,
                at.uid.map_or("-".into(), |u| u.to_string()),
                if at.cached { "hit" } else { "miss" },
                judged.elapsed.as_millis()
            ),
        );
        let counted = match safe {
            Safe::Refused(_) => "refused",
            _ => crate::session::observe::download_action(action),
        };
        let scanned = (!at.cached).then_some(judged.elapsed);
        self.core
            .ctx
            .count_message("download", Some(verdict), counted, size, scanned);
    }
}

/// The tagged version in a spool of its own (in memory when small, else a file), so
/// sections can be served from it without holding it on the heap.
fn tagged_copy(
    app: &crate::app::App,
    head: &[u8],
    original: &mut Spool,
    body_offset: u64,
) -> Result<Spool, ProxyError> {
    let cfg = &app.cfg;
    let mut copy = Spool::new(cfg.limits.spool_memory_bytes, &cfg.general.spool_dir);
    copy.write(head).map_err(ProxyError::io(Side::Local))?;
    let mut buf = vec![0u8; crate::session::deliver::CHUNK];
    let mut pos = body_offset;
    loop {
        let n = original
            .read_at(pos, &mut buf)
            .map_err(ProxyError::io(Side::Local))?;
        if n == 0 {
            break;
        }
        copy.write(&buf[..n]).map_err(ProxyError::io(Side::Local))?;
        pos += n as u64;
    }
    Ok(copy)
}

/// At most this many UIDs of a FETCH set are looked up in the verdict cache.
const KNOWN_UIDS: usize = 256;

/// The numbers of a sequence set (`4`, `1:3,7`), or `None` when it has `*`, cannot be
/// read, or names more than `max`.
pub(super) fn uids_of(set: &str, max: usize) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in set.split(',') {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
        let (lo, hi) = (a.min(b), a.max(b));
        if (hi - lo) as usize >= max.saturating_sub(out.len()) {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}
