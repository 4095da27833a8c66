//! The builtin engine's Bayes spam classifier: `tokens` reads a message, `db` is the
//! shared, memory-mapped token table, `classify` combines the evidence, `store` and
//! `train` learn from an admin's mail.
pub mod autolearn;
pub mod classify;
pub mod db;
mod html;
pub mod sources;
pub mod store;
pub mod tokens;
pub mod train;

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use crate::config::Builtin;
use crate::config::bayes::Bayes as Cfg;
use crate::message::mime::Limits;
use crate::scan::Verdict;
use db::Snapshot;

/// Identifies one database file: training replaces it with a new inode.
type FileId = (u64, u64, u64, i64, i64);

#[derive(Debug, Default)]
struct Current {
    snap: Option<Arc<Snapshot>>,
    id: Option<FileId>,
}

/// The classifier shared by all sessions. It maps the database file and maps it anew when
/// training has replaced it; lookups never block on training.
#[derive(Debug)]
pub struct Bayes {
    cfg: Cfg,
    limits: Limits,
    current: Mutex<Current>,
}

/// What the classifier says about one message: a verdict (clean when it has no opinion)
/// and a line for the session log naming the deciding tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub probability: Option<f64>,
    pub note: String,
}

impl Bayes {
    pub fn new(cfg: &Cfg, builtin: &Builtin) -> Bayes {
        Bayes {
            cfg: cfg.clone(),
            limits: Limits {
                max_parts: builtin.max_parts,
                max_depth: builtin.max_depth,
                max_decoded_bytes: builtin.max_decoded_bytes,
            },
            current: Mutex::new(Current::default()),
        }
    }

    /// The database as it is now on disk; `None` when none was trained yet.
    fn snapshot(&self) -> Result<Option<Arc<Snapshot>>, db::DbError> {
        let id = match std::fs::metadata(&self.cfg.db_path) {
            Ok(m) => Some((m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.id != id || (id.is_some() && cur.snap.is_none()) {
            cur.snap = Snapshot::open(&self.cfg.db_path)?.map(Arc::new);
            cur.id = id;
        }
        Ok(cur.snap.clone())
    }

    /// Classifies one message. CPU-bound; callers run large messages off the reactor.
    pub fn classify(&self, raw: &[u8]) -> Judgement {
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(e) => {
                let why = format!("{}: {e}", self.cfg.db_path.display());
                return Judgement {
                    note: format!("bayes failed: {why}"),
                    verdict: Verdict::Failed {
                        scanner: "bayes".into(),
                        why,
                    },
                    probability: None,
                };
            }
        };
        let (nspam, nham) = snap
            .as_ref()
            .map_or((0, 0), |s| (s.header.nspam, s.header.nham));
        let Some(snap) = snap.filter(|_| nspam >= self.cfg.min_spam && nham >= self.cfg.min_ham)
        else {
            return Judgement {
                verdict: Verdict::Clean,
                probability: None,
                note: format!(
                    "bayes: no verdict, learned {nspam} spam and {nham} ham of the {} and {} needed",
                    self.cfg.min_spam, self.cfg.min_ham
                ),
            };
        };
        let tokens = tokens::tokenize(raw, self.limits, self.cfg.max_tokens_per_message);
        let probs: Vec<(f64, u64)> = tokens
            .hashes()
            .filter_map(|h| {
                let c = snap.get(h)?;
                Some((classify::token_probability(c, nspam, nham), h))
            })
            .collect();
        let known = probs.len();
        let (p, clues) = classify::combine(probs);
        let deciding: Vec<String> = clues
            .iter()
            .take(self.cfg.logged_tokens)
            .map(|(tp, h)| format!("{:?} {tp:.3}", tokens.text_of(*h).unwrap_or("?")))
            .collect();
        let verdict = if p >= self.cfg.spam_threshold {
            Verdict::Spam {
                score: 10.0 * p,
                threshold: 10.0 * self.cfg.spam_threshold,
            }
        } else {
            Verdict::Clean
        };
        Judgement {
            note: format!(
                "bayes: spam probability {p:.4} (threshold {}), {} clues from {known} known of {} tokens; deciding: {}",
                self.cfg.spam_threshold,
                clues.len(),
                tokens.len(),
                deciding.join(", ")
            ),
            verdict,
            probability: Some(p),
        }
    }
}

#[cfg(test)]
mod tests;
