//! Runs the configured engines over one message and combines their verdicts.
//!
//! clamd is fed while the message arrives; the builtin engine and spamd need the whole
//! message and run when it is complete. The whole scan has one deadline; missing it is a
//! `Failed` verdict, never a silent pass.
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Engine, Scan as Cfg};
use crate::message::spool::Spool;

use super::Verdict;
use super::admission::Admission;
use super::bayes::Bayes;
use super::bayes::autolearn::{self, Queue};
use super::builtin::BuiltinEngine;
use super::builtin::signatures::SigError;
use super::clamd::ClamdStream;

#[derive(Debug)]
pub struct Pipeline {
    cfg: Cfg,
    builtin: Option<Arc<BuiltinEngine>>,
    admission: Admission,
    /// The builtin engine's Bayes classifier, when `scan.bayes.enabled`.
    bayes: Option<Arc<Bayes>>,
    /// Where confidently judged messages wait for training, when `scan.bayes.autolearn`.
    autolearn: Option<Queue>,
}

#[derive(Debug, Clone)]
pub struct ScanOutcome {
    pub verdict: Verdict,
    pub elapsed: Duration,
    /// Engines that looked at the message, for logs and the scan header.
    pub engines: Vec<&'static str>,
    /// Notes such as "spamd skipped: larger than scan.spamd.max_bytes".
    pub notes: Vec<String>,
}

impl Pipeline {
    /// `spool_dir` also holds the builtin engine's large decoded parts while it scans.
    pub fn new(cfg: &Cfg, spool_dir: &std::path::Path) -> Result<Pipeline, SigError> {
        let builtin = if cfg.engines.contains(&Engine::Builtin) {
            Some(Arc::new(
                BuiltinEngine::new(&cfg.builtin)?.spilling_to(spool_dir),
            ))
        } else {
            None
        };
        let bayes = (builtin.is_some() && cfg.bayes.enabled)
            .then(|| Arc::new(Bayes::new(&cfg.bayes, &cfg.builtin)));
        let autolearn = (bayes.is_some() && cfg.bayes.autolearn).then(|| Queue::new(&cfg.bayes));
        Ok(Pipeline {
            cfg: cfg.clone(),
            builtin,
            admission: Admission::new(cfg),
            bayes,
            autolearn,
        })
    }

    /// Judges a small message the proxy wrote itself (a notice), as every engine would.
    pub async fn judge_bytes(&self, data: &[u8], spool_dir: &std::path::Path) -> Verdict {
        let mut spool = Spool::new(data.len(), spool_dir);
        if let Err(e) = spool.write(data) {
            return Verdict::Failed {
                scanner: "spool".into(),
                why: e.to_string(),
            };
        }
        let mut scan = self.begin().await;
        scan.learn = false;
        scan.feed(data).await;
        scan.finish(&mut spool).await.verdict
    }

    /// Queues a confidently judged message for training (`scan.bayes.autolearn`).
    fn autolearn(
        &self,
        verdict: &Verdict,
        probability: Option<f64>,
        spamd: Option<&Verdict>,
        bytes: &[u8],
        notes: &mut Vec<String>,
    ) {
        let Some(q) = &self.autolearn else { return };
        let Some(class) = autolearn::decide(&self.cfg.bayes, verdict, probability, spamd) else {
            return;
        };
        let put = || q.put(class, bytes);
        let put = if bytes.len() <= INLINE_SCAN_BYTES {
            put()
        } else {
            tokio::task::block_in_place(put)
        };
        match put {
            Ok(true) => notes.push(format!("bayes: queued for autolearn as {}", class.dir())),
            Ok(false) => {}
            Err(e) => notes.push(format!("bayes: autolearn queue not written: {e}")),
        }
    }

    pub async fn begin(&self) -> MessageScan<'_> {
        let clamd = if self.cfg.engines.contains(&Engine::Clamd) {
            Some(ClamdStream::start(&self.cfg.clamd).await)
        } else {
            None
        };
        MessageScan {
            pipeline: self,
            clamd,
            size: 0,
            started: Instant::now(),
            learn: true,
        }
    }
}

/// Messages up to this size are scanned on the session's own worker thread: at the
/// builtin engine's 300+ MB/s that is well under a millisecond of blocking.
const INLINE_SCAN_BYTES: usize = 256 * 1024;

/// After scanning a message larger than this, free heap pages are given back.
const RELEASE_AFTER_BYTES: u64 = 1024 * 1024;

/// The scan of one message in progress.
pub struct MessageScan<'p> {
    pipeline: &'p Pipeline,
    clamd: Option<ClamdStream>,
    size: u64,
    started: Instant,
    /// Whether a confident verdict may queue the message for autolearn (not for the
    /// proxy's own notices).
    learn: bool,
}

impl MessageScan<'_> {
    pub async fn feed(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        if self.size > self.pipeline.cfg.max_scan_bytes {
            return;
        }
        if let Some(c) = self.clamd.as_mut() {
            c.feed(data).await;
        }
    }

    /// Completes the scan over the spooled message.
    pub async fn finish(self, spool: &mut Spool) -> ScanOutcome {
        let cfg = &self.pipeline.cfg;
        let started = self.started;
        let mut engines = Vec::new();
        let mut notes = Vec::new();
        if self.size > cfg.max_scan_bytes {
            return ScanOutcome {
                verdict: Verdict::Unscannable {
                    why: format!("larger than scan.max_scan_bytes ({})", cfg.max_scan_bytes),
                },
                elapsed: started.elapsed(),
                engines,
                notes,
            };
        }
        // clamd has had the message already; what follows holds memory in this process.
        let ticket = match self.pipeline.admission.admit(self.size).await {
            Ok(t) => t,
            Err(refused) => {
                return ScanOutcome {
                    verdict: Verdict::Failed {
                        scanner: "admission".into(),
                        why: format!(
                            "no room among the scans in flight within scan.admission_timeout_secs ({})",
                            refused.waited.as_secs()
                        ),
                    },
                    elapsed: started.elapsed(),
                    engines,
                    notes,
                };
            }
        };
        let deadline = Duration::from_secs(cfg.timeout_secs);
        let work = async {
            let mut verdict = Verdict::Clean;
            if let Some(c) = self.clamd {
                engines.push("clamd");
                verdict = verdict.combine(c.finish().await);
            }
            let bytes = match spool.to_bytes() {
                Ok(b) => b,
                Err(e) => {
                    return verdict.combine(Verdict::Failed {
                        scanner: "spool".into(),
                        why: e.to_string(),
                    });
                }
            };
            if let Some(b) = &self.pipeline.builtin {
                engines.push("builtin");
                // Handing the worker over costs a thread wake-up and two context switches,
                // more than the builtin engine needs for a small message.
                let v = if bytes.len() <= INLINE_SCAN_BYTES {
                    b.scan(&bytes)
                } else {
                    tokio::task::block_in_place(|| bytes.watch(|raw| b.scan(raw)))
                };
                verdict = verdict.combine(v);
            }
            let mut probability = None;
            if let Some(b) = self
                .pipeline
                .bayes
                .as_ref()
                .filter(|_| verdict == Verdict::Clean)
            {
                engines.push("bayes");
                let j = if bytes.len() <= INLINE_SCAN_BYTES {
                    b.classify(&bytes)
                } else {
                    tokio::task::block_in_place(|| bytes.watch(|raw| b.classify(raw)))
                };
                notes.push(j.note);
                probability = j.probability;
                verdict = verdict.combine(j.verdict);
            }
            let mut spamd = None;
            if cfg.engines.contains(&Engine::Spamd) && !matches!(verdict, Verdict::Infected { .. })
            {
                match super::spamd::check(&cfg.spamd, &bytes).await {
                    Some(v) => {
                        engines.push("spamd");
                        verdict = verdict.combine(v.clone());
                        spamd = Some(v);
                    }
                    None => notes.push(format!(
                        "spamd skipped: larger than scan.spamd.max_bytes ({})",
                        cfg.spamd.max_bytes
                    )),
                }
            }
            if self.learn {
                self.pipeline
                    .autolearn(&verdict, probability, spamd.as_ref(), &bytes, &mut notes);
            }
            verdict
        };
        let verdict = match tokio::time::timeout(deadline, work).await {
            Ok(v) => v,
            Err(_) => Verdict::Failed {
                scanner: "pipeline".into(),
                why: format!("no verdict within scan.timeout_secs ({})", cfg.timeout_secs),
            },
        };
        drop(ticket);
        if self.size > RELEASE_AFTER_BYTES {
            // The scan's large buffers are free now: hand their pages back at once rather
            // than keep them for the next burst.
            crate::net::release_free_memory();
        }
        ScanOutcome {
            verdict,
            elapsed: started.elapsed(),
            engines,
            notes,
        }
    }
}

#[cfg(test)]
mod tests;
