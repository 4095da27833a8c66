//! Autolearn: messages the pipeline judged with confidence are queued as files for
//! `portcullis train --autolearn`, which learns and removes them. The proxy never writes
//! the token database itself (training holds its lock and replaces the file atomically);
//! the queue is bounded, and a message that does not fit is simply not queued.
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::config::bayes::Bayes as Cfg;
use crate::scan::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Spam,
    Ham,
}

impl Class {
    pub fn dir(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::Ham => "ham",
        }
    }
}

/// What a judged message teaches, if anything: spam when Bayes is all but certain or
/// spamd's own score is high, ham when the whole pipeline found it clean and Bayes is all
/// but certain it is not spam. Infected, unscannable and failed messages teach nothing.
pub fn decide(
    cfg: &Cfg,
    verdict: &Verdict,
    bayes: Option<f64>,
    spamd: Option<&Verdict>,
) -> Option<Class> {
    if matches!(
        verdict,
        Verdict::Infected { .. } | Verdict::Unscannable { .. } | Verdict::Failed { .. }
    ) {
        return None;
    }
    let spamd_high =
        matches!(spamd, Some(Verdict::Spam { score, .. }) if *score >= cfg.autolearn_spamd_score);
    if spamd_high || bayes.is_some_and(|p| p >= cfg.autolearn_spam_probability) {
        return Some(Class::Spam);
    }
    let clean = *verdict == Verdict::Clean;
    (clean && bayes.is_some_and(|p| p <= cfg.autolearn_ham_probability)).then_some(Class::Ham)
}

/// The queue directory, shared by all sessions.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    max: usize,
    /// Files counted at `.1`; counted again at most every `RECOUNT` once full.
    count: Mutex<(usize, Instant)>,
}

const RECOUNT: Duration = Duration::from_secs(60);

impl Queue {
    pub fn new(cfg: &Cfg) -> Queue {
        let dir = cfg.autolearn_dir.clone();
        Queue {
            count: Mutex::new((count(&dir), Instant::now())),
            dir,
            max: cfg.autolearn_max_messages,
        }
    }

    /// Queues `raw` as `class`; `Ok(false)` when the queue is full or already holds it.
    pub fn put(&self, class: Class, raw: &[u8]) -> std::io::Result<bool> {
        let mut c = self.count.lock().unwrap_or_else(|p| p.into_inner());
        if c.0 >= self.max && c.1.elapsed() >= RECOUNT {
            *c = (count(&self.dir), Instant::now());
        }
        if c.0 >= self.max {
            return Ok(false);
        }
        let name = format!("{:x}.eml", Sha256::digest(raw));
        let target = self.dir.join(class.dir()).join(&name);
        if target.exists() {
            return Ok(false);
        }
        let tmp = self.dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(self.dir.join(class.dir()))?;
        let t = tmp.join(&name);
        std::fs::write(&t, raw)?;
        std::fs::rename(&t, &target)?;
        c.0 += 1;
        Ok(true)
    }
}

/// The queued messages of `class` under `dir`.
pub fn queued(dir: &Path, class: Class) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join(class.dir()))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn count(dir: &Path) -> usize {
    queued(dir, Class::Spam).len() + queued(dir, Class::Ham).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_confident_judgements_teach() {
        let cfg = Cfg::default();
        let spam = |score| Verdict::Spam {
            score,
            threshold: 5.0,
        };
        let clean = Verdict::Clean;
        assert_eq!(decide(&cfg, &clean, Some(0.0001), None), Some(Class::Ham));
        assert_eq!(decide(&cfg, &clean, Some(0.01), None), None);
        assert_eq!(decide(&cfg, &clean, None, None), None, "no opinion");
        assert_eq!(
            decide(&cfg, &spam(9.99), Some(0.9995), None),
            Some(Class::Spam)
        );
        assert_eq!(decide(&cfg, &spam(9.0), Some(0.9), None), None);
        assert_eq!(
            decide(&cfg, &spam(13.0), None, Some(&spam(13.0))),
            Some(Class::Spam)
        );
        assert_eq!(decide(&cfg, &spam(6.0), None, Some(&spam(6.0))), None);
        let virus = Verdict::Infected { name: "x".into() };
        assert_eq!(decide(&cfg, &virus, Some(0.9999), None), None);
        // A message spamd calls spam is never learned as ham, whatever Bayes says.
        assert_eq!(
            decide(&cfg, &spam(6.0), Some(0.0001), Some(&spam(6.0))),
            None
        );
    }

    #[test]
    fn the_queue_is_bounded_and_keeps_each_message_once() {
        let d = tempfile::tempdir().unwrap();
        let cfg = Cfg {
            autolearn_dir: d.path().to_path_buf(),
            autolearn_max_messages: 2,
            ..Cfg::default()
        };
        let q = Queue::new(&cfg);
        assert!(q.put(Class::Spam, b"one").unwrap());
        assert!(!q.put(Class::Spam, b"one").unwrap(), "already queued");
        assert!(q.put(Class::Ham, b"two").unwrap());
        assert!(!q.put(Class::Ham, b"three").unwrap(), "full");
        assert_eq!(queued(d.path(), Class::Spam).len(), 1);
        assert_eq!(queued(d.path(), Class::Ham).len(), 1);
        assert_eq!(
            Queue::new(&cfg).count.lock().unwrap().0,
            2,
            "counted at start"
        );
    }
}
