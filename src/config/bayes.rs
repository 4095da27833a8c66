//! `[scan.bayes]`: the embedded Bayes spam classifier of the builtin engine.
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Bayes {
    /// Classify every message the builtin engine scans. Off until an admin has trained a
    /// database with `portcullis train`.
    pub enabled: bool,
    /// The token database, shared by all sessions and replaced atomically by training.
    pub db_path: PathBuf,
    /// No verdict until this many spam and ham messages are learned.
    pub min_spam: u64,
    pub min_ham: u64,
    /// A message whose spam probability is at or above this is spam. The verdict's score
    /// is the probability times 10 (0 to 10), so `policy.submission.spam_reject_score`
    /// rejects on Bayes alone only when set to 10 or below.
    pub spam_threshold: f64,
    /// Tokens kept in the database; past it the least recently learned, rarest go first.
    pub max_tokens: usize,
    /// Distinct tokens taken from one message (headers first, then links, then text).
    pub max_tokens_per_message: usize,
    /// Digests of learned messages kept so that relearning one counts once; past it the
    /// oldest are dropped.
    pub max_seen_messages: usize,
    /// Strongest tokens named in the session log for each verdict.
    pub logged_tokens: usize,
    /// Queue confidently judged messages for learning (`portcullis train --autolearn`
    /// learns and removes them). Off: copies of mail are kept on disk until then.
    pub autolearn: bool,
    /// Where queued messages wait, in `spam/` and `ham/`.
    pub autolearn_dir: PathBuf,
    /// Queued as spam at or above this Bayes probability, or ...
    pub autolearn_spam_probability: f64,
    /// ... when spamd scores it at or above this.
    pub autolearn_spamd_score: f64,
    /// Queued as ham when judged clean with a Bayes probability at or below this.
    pub autolearn_ham_probability: f64,
    /// Messages waiting at most; past it none are queued until training took them.
    pub autolearn_max_messages: usize,
}

impl Default for Bayes {
    fn default() -> Self {
        Bayes {
            enabled: false,
            db_path: PathBuf::from("/var/lib/portcullis/bayes.db"),
            min_spam: 200,
            min_ham: 200,
            spam_threshold: 0.9,
            max_tokens: 150_000,
            max_tokens_per_message: 3_000,
            max_seen_messages: 200_000,
            logged_tokens: 8,
            autolearn: false,
            autolearn_dir: PathBuf::from("/var/lib/portcullis/autolearn"),
            autolearn_spam_probability: 0.999,
            autolearn_spamd_score: 12.0,
            autolearn_ham_probability: 0.001,
            autolearn_max_messages: 1000,
        }
    }
}

impl Bayes {
    /// Problems as (key, value, fix).
    pub fn problems(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut p = Vec::new();
        if !(self.spam_threshold > 0.5 && self.spam_threshold < 1.0) {
            p.push((
                "scan.bayes.spam_threshold",
                self.spam_threshold.to_string(),
                "use a probability between 0.5 and 1 (exclusive), e.g. 0.9",
            ));
        }
        for (k, v) in [
            ("scan.bayes.max_tokens", self.max_tokens),
            (
                "scan.bayes.max_tokens_per_message",
                self.max_tokens_per_message,
            ),
            ("scan.bayes.max_seen_messages", self.max_seen_messages),
        ] {
            if v == 0 {
                p.push((k, "0".into(), "use a positive number"));
            }
        }
        if !(self.autolearn_spam_probability > 0.5 && self.autolearn_spam_probability <= 1.0) {
            p.push((
                "scan.bayes.autolearn_spam_probability",
                self.autolearn_spam_probability.to_string(),
                "use a probability above 0.5 and at most 1, e.g. 0.999",
            ));
        }
        if !(self.autolearn_ham_probability >= 0.0 && self.autolearn_ham_probability < 0.5) {
            p.push((
                "scan.bayes.autolearn_ham_probability",
                self.autolearn_ham_probability.to_string(),
                "use a probability of at least 0 and below 0.5, e.g. 0.001",
            ));
        }
        if self.autolearn_max_messages == 0 {
            p.push((
                "scan.bayes.autolearn_max_messages",
                "0".into(),
                "use a positive number, or autolearn = false",
            ));
        }
        if self.min_spam == 0 || self.min_ham == 0 {
            p.push((
                "scan.bayes.min_spam/min_ham",
                "0".into(),
                "learn at least one of each before any verdict (200 is the default)",
            ));
        }
        p
    }
}
