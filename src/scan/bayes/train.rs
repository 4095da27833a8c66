//! `portcullis train` and `portcullis bayes stats`: learning from an admin's mail folders.
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::autolearn::{self, Class};
use super::db::{DbError, Snapshot};
use super::sources;
use super::store::{Learned, Learner, StoreLimits};
use super::tokens;
use crate::config::Config;
use crate::message::mime::Limits;

/// What to learn (the arguments of `portcullis train`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrainArgs {
    /// Spam: a Maildir folder, an mbox file or a directory of messages (repeatable).
    #[arg(long)]
    pub spam: Vec<PathBuf>,
    /// Ham, the same kinds of paths (repeatable).
    #[arg(long)]
    pub ham: Vec<PathBuf>,
    /// Unlearn these messages instead.
    #[arg(long)]
    pub forget: bool,
    /// Messages between two atomic commits of the database (a crash loses at most these).
    #[arg(long, default_value_t = 1000)]
    pub commit_every: usize,
    /// Learn the messages the proxy queued (`scan.bayes.autolearn_dir`), then remove them.
    #[arg(long, conflicts_with_all = ["spam", "ham", "forget"])]
    pub autolearn: bool,
}

/// Learns the autolearn queue as it is now, then removes what was learned (messages
/// queued meanwhile wait for the next run; one learned twice counts once).
fn train_queued(cfg: &Config, commit_every: usize) -> Result<Report, DbError> {
    let dir = &cfg.scan.bayes.autolearn_dir;
    let args = TrainArgs {
        spam: autolearn::queued(dir, Class::Spam),
        ham: autolearn::queued(dir, Class::Ham),
        forget: false,
        commit_every,
        autolearn: false,
    };
    if args.spam.is_empty() && args.ham.is_empty() {
        return Ok(Report::default());
    }
    let report = train(cfg, &args)?;
    for f in args.spam.iter().chain(&args.ham) {
        std::fs::remove_file(f)?;
    }
    Ok(report)
}

/// Totals of one training run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub learned: u64,
    pub moved: u64,
    pub known: u64,
    pub forgotten: u64,
    pub not_learned: u64,
    pub too_large: u64,
    pub unreadable: u64,
    pub expired: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "learned {}, moved to the other class {}, already known {}, forgotten {}, not learned before {}, too large {}, unreadable {}, tokens expired {}",
            self.learned,
            self.moved,
            self.known,
            self.forgotten,
            self.not_learned,
            self.too_large,
            self.unreadable,
            self.expired
        )
    }
}

/// The identity of a message for "learned once": SHA-256 of its bytes with CRs removed,
/// so the same message from a Maildir (CRLF or LF) and from an mbox counts once.
pub fn digest(raw: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    for piece in raw.split(|&b| b == b'\r') {
        h.update(piece);
    }
    h.finalize()[..16].try_into().expect("16 bytes")
}

struct Progress {
    tty: bool,
    seen: u64,
}

impl Progress {
    fn tick(&mut self, class: &str, r: &Report) {
        self.seen += 1;
        let every = if self.tty { 25 } else { 1000 };
        if self.seen.is_multiple_of(every) {
            let end = if self.tty { "\r" } else { "\n" };
            eprint!("{class}: {} messages read; {r}{end}", self.seen);
            let _ = std::io::stderr().flush();
        }
    }
}

/// Learns (or forgets) every message under the given paths, committing as it goes.
pub fn train(cfg: &Config, args: &TrainArgs) -> Result<Report, DbError> {
    if args.autolearn {
        return train_queued(cfg, args.commit_every);
    }
    if args.spam.is_empty() && args.ham.is_empty() {
        return Err(DbError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "nothing to learn: give at least one --spam PATH or --ham PATH",
        )));
    }
    let b = &cfg.scan.bayes;
    let limits = StoreLimits {
        max_tokens: b.max_tokens,
        max_seen: b.max_seen_messages,
    };
    if let Some(dir) = b.db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut learner = Learner::open(&b.db_path, limits)?;
    let mime_limits = Limits {
        max_parts: cfg.scan.builtin.max_parts,
        max_depth: cfg.scan.builtin.max_depth,
        max_decoded_bytes: cfg.scan.builtin.max_decoded_bytes,
    };
    let mut report = Report::default();
    let mut progress = Progress {
        tty: std::io::stderr().is_terminal(),
        seen: 0,
    };
    let mut pending = 0usize;
    let mut failure: Option<DbError> = None;
    let classes = [(true, &args.spam), (false, &args.ham)];
    for (spam, paths) in classes {
        let class = if spam { "spam" } else { "ham" };
        for path in paths {
            let skipped = sources::for_each_message(path, cfg.scan.max_scan_bytes, &mut |raw| {
                let t = tokens::tokenize(raw, mime_limits, b.max_tokens_per_message);
                let hashes: Vec<u64> = t.hashes().collect();
                let d = digest(raw);
                if args.forget {
                    if learner.forget(d, &hashes) {
                        report.forgotten += 1;
                    } else {
                        report.not_learned += 1;
                    }
                } else {
                    match learner.learn(d, spam, &hashes) {
                        Learned::New => report.learned += 1,
                        Learned::Moved => report.moved += 1,
                        Learned::Known => report.known += 1,
                    }
                }
                pending += 1;
                progress.tick(class, &report);
                if pending >= args.commit_every.max(1) {
                    pending = 0;
                    match learner.commit() {
                        Ok(n) => report.expired += n as u64,
                        Err(e) => {
                            failure = Some(e);
                            return false;
                        }
                    }
                }
                true
            });
            if let Some(e) = failure.take() {
                return Err(e);
            }
            report.too_large += skipped.too_large;
            for (p, e) in &skipped.unreadable {
                eprintln!("{}: {e}", p.display());
            }
            report.unreadable += skipped.unreadable.len() as u64;
        }
    }
    report.expired += learner.commit()? as u64;
    if progress.tty && progress.seen >= 25 {
        eprintln!();
    }
    Ok(report)
}

/// The numbers `portcullis bayes stats` prints.
pub fn stats(path: &Path) -> Result<String, DbError> {
    let Some(s) = Snapshot::open(path)? else {
        return Ok(format!(
            "{}: no database yet (run portcullis train)",
            path.display()
        ));
    };
    let h = s.header;
    let (mut hapax, mut spammy, mut hammy) = (0u64, 0u64, 0u64);
    for (_, c) in s.tokens() {
        hapax += u64::from(c.spam + c.ham == 1);
        spammy += u64::from(c.spam > 0 && c.ham == 0);
        hammy += u64::from(c.ham > 0 && c.spam == 0);
    }
    Ok(format!(
        "database: {}\nspam learned: {}\nham learned: {}\ntokens: {} ({} seen once, {} only in spam, {} only in ham)\nmessage digests: {}\nlearn operations: {}\nfile bytes: {}",
        path.display(),
        h.nspam,
        h.nham,
        h.tokens,
        hapax,
        spammy,
        hammy,
        h.seen,
        h.clock,
        s.file_bytes()
    ))
}

/// Totals of `portcullis bayes classify`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClassifyTotals {
    pub messages: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// Time this thread was on a CPU for the whole run, reading the messages included
    /// (None where the kernel does not say): on a busy machine a fairer measure of the
    /// classifier's cost than the wall clock. The kernel updates it at scheduling events,
    /// so only the total over a run is meaningful, not a single message's share.
    pub cpu_seconds: Option<f64>,
}

impl std::fmt::Display for ClassifyTotals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.messages as f64;
        write!(
            f,
            "classified {} messages ({} bytes) in {:.3} s: {:.0} messages/s",
            self.messages,
            self.bytes,
            self.seconds,
            n / self.seconds.max(1e-9)
        )?;
        if let Some(c) = self.cpu_seconds {
            write!(
                f,
                "; {c:.3} s on a CPU, reading included: {:.0} messages/s per core",
                n / c.max(1e-9)
            )?;
        }
        // Anonymous memory does not grow with the database; the mapped file shows as
        // file-backed pages, shared with every other reader.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        for l in status.lines() {
            if l.starts_with("RssAnon") || l.starts_with("RssFile") {
                write!(
                    f,
                    "; {}",
                    l.split_whitespace().collect::<Vec<_>>().join(" ")
                )?;
            }
        }
        Ok(())
    }
}

/// Nanoseconds the calling thread has run on a CPU (`/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Classifies every message under `paths` with the database as configured, writing one
/// line per message: the spam probability (or `-` before the minimum learns) and where
/// the message came from. The time counted is the classifier's alone, not the reading.
pub fn classify_paths(
    cfg: &Config,
    paths: &[PathBuf],
    out: &mut dyn Write,
) -> std::io::Result<ClassifyTotals> {
    let engine = super::Bayes::new(&cfg.scan.bayes, &cfg.scan.builtin);
    let mut t = ClassifyTotals::default();
    let cpu_start = thread_cpu_ns();
    let mut result = Ok(());
    for path in paths {
        let mut n = 0u64;
        let skipped = sources::for_each_message(path, cfg.scan.max_scan_bytes, &mut |raw| {
            let started = std::time::Instant::now();
            let j = engine.classify(raw);
            t.seconds += started.elapsed().as_secs_f64();
            t.messages += 1;
            t.bytes += raw.len() as u64;
            n += 1;
            let p = j.probability.map_or("-".to_string(), |p| format!("{p:.6}"));
            result = writeln!(out, "{p}\t{}#{n}\t{}", path.display(), j.verdict.kind());
            result.is_ok()
        });
        result
            .as_ref()
            .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?;
        for (p, e) in &skipped.unreadable {
            eprintln!("{}: {e}", p.display());
        }
    }
    if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
        t.cpu_seconds = Some(b.saturating_sub(a) as f64 / 1e9);
    }
    Ok(t)
}
