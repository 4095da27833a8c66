//! `portcullis scan FILE|-`: one message per file through the configured engines, with the
//! verdict printed and the exit code clamdscan uses (0 clean, 1 found, 2 error).
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use portcullis::config::Config;
use portcullis::message::spool::Spool;
use portcullis::scan::{Pipeline, ScanOutcome, Verdict};

#[derive(clap::Args)]
pub struct ScanArgs {
    /// Messages (RFC 5322, as stored or as received); - reads one from standard input.
    #[arg(required = true, value_name = "FILE|-")]
    pub files: Vec<PathBuf>,
    #[arg(long, short, default_value = crate::DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// How one file's scan ended, worst last: the exit code is the worst of all files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Clean = 0,
    /// Infected or spam.
    Found = 1,
    /// Unscannable, a scanner that failed, or a file that could not be read.
    Error = 2,
}

pub fn outcome(v: &Verdict) -> Outcome {
    match v {
        Verdict::Clean => Outcome::Clean,
        Verdict::Spam { .. } | Verdict::Infected { .. } => Outcome::Found,
        Verdict::Unscannable { .. } | Verdict::Failed { .. } => Outcome::Error,
    }
}

/// The line printed for one file, in clamdscan's `NAME: RESULT` shape.
pub fn report(name: &str, o: &ScanOutcome) -> String {
    let tail = match outcome(&o.verdict) {
        Outcome::Clean => "OK",
        Outcome::Found => "FOUND",
        Outcome::Error => "ERROR",
    };
    let mut line = format!(
        "{name}: {} {tail} (engines: {}; {} ms)",
        o.verdict,
        if o.engines.is_empty() {
            "none".to_string()
        } else {
            o.engines.join(", ")
        },
        o.elapsed.as_millis()
    );
    for n in &o.notes {
        line.push_str("; ");
        line.push_str(n);
    }
    line
}

pub fn run(args: &ScanArgs) -> ExitCode {
    let cfg = match crate::load(&args.config) {
        Ok(c) => c,
        Err(c) => return c,
    };
    let pipeline = match Pipeline::new(&cfg.scan, &cfg.general.spool_dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("scan.builtin.signature_dir: {e}");
            return ExitCode::from(2);
        }
    };
    // One worker: the pipeline may hand a large message to `block_in_place`, which needs
    // a multi-threaded runtime.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("local: cannot start runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mut worst = Outcome::Clean;
    for file in &args.files {
        let name = file.display().to_string();
        let o = match rt.block_on(scan_file(&cfg, &pipeline, file)) {
            Ok(o) => {
                println!("{}", report(&name, &o));
                outcome(&o.verdict)
            }
            Err(e) => {
                println!("{name}: cannot read: {e} ERROR");
                Outcome::Error
            }
        };
        worst = worst.max(o);
    }
    ExitCode::from(worst as u8)
}

async fn scan_file(cfg: &Config, pipeline: &Pipeline, file: &Path) -> io::Result<ScanOutcome> {
    let mut input: Box<dyn Read> = if file == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(file)?)
    };
    scan_reader(cfg, pipeline, &mut input).await
}

/// Reads a message in chunks into a spool (memory, then a file) while feeding the engines
/// that stream. Past `scan.max_scan_bytes` reading stops: the verdict is `unscannable`
/// whatever follows, and nothing larger is ever held.
pub async fn scan_reader(
    cfg: &Config,
    pipeline: &Pipeline,
    input: &mut dyn Read,
) -> io::Result<ScanOutcome> {
    let dir = if cfg.general.spool_dir.is_dir() {
        cfg.general.spool_dir.clone()
    } else {
        std::env::temp_dir()
    };
    let mut spool = Spool::new(cfg.limits.spool_memory_bytes, &dir);
    let mut scan = pipeline.begin().await;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        scan.feed(&buf[..n]).await;
        if spool.len() + n as u64 > cfg.scan.max_scan_bytes {
            break;
        }
        spool.write(&buf[..n])?;
    }
    Ok(scan.finish(&mut spool).await)
}
