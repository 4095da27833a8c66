#![forbid(unsafe_code)]
//! The portcullis command line.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use portcullis::config::{Config, LogFormat};
use portcullis::ids::{QuarantineId, SessionId};
use portcullis::net::listener::{self, Shared};
use portcullis::quarantine::Quarantine;
use portcullis::scan::Pipeline;
use portcullis::scan::bayes::train as bayes_train;
use portcullis::withheld::Withheld;
use portcullis::{nft, session_log};

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Transparent POP3 scanning proxy for LAN gateways"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the proxy in the foreground (logs to stderr).
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file; every problem is printed with key, value and fix.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print, apply or remove the nftables interception ruleset.
    Nft {
        #[arg(value_enum)]
        action: NftAction,
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Inspect and manage quarantined originals.
    Quarantine {
        #[command(subcommand)]
        action: QAction,
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// Read per-session logs.
    Sessions {
        #[command(subcommand)]
        action: SAction,
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// Teach the Bayes classifier spam and ham from Maildir folders, mbox files and
    /// directories of messages (a message learned twice counts once).
    Train {
        #[command(flatten)]
        args: bayes_train::TrainArgs,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Inspect the Bayes database.
    Bayes {
        #[command(subcommand)]
        action: BAction,
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BAction {
    /// Messages learned, tokens, file size.
    Stats,
    /// Print each message's spam probability (Maildir, mbox, files), and the speed.
    Classify { paths: Vec<PathBuf> },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum NftAction {
    Print,
    Apply,
    Remove,
}

#[derive(Subcommand)]
enum QAction {
    /// One line per quarantined message.
    List,
    /// The record of one message.
    Show { id: String },
    /// Write the original to a file (or stdout) and mark it released.
    Release {
        id: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete entries older than the retention (or --days).
    Purge {
        #[arg(long)]
        days: Option<u64>,
    },
}

#[derive(Subcommand)]
enum SAction {
    List,
    Show { id: String },
}

const DEFAULT_CONFIG: &str = "/etc/portcullis/portcullis.toml";

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|errs| {
        eprintln!("{}: {} problem(s):", path.display(), errs.len());
        for e in errs {
            eprintln!("  {e}");
        }
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Check { config } => match load(&config) {
            Ok(cfg) => match Pipeline::new(&cfg.scan) {
                Ok(_) => {
                    println!(
                        "{}: OK ({} listener(s))",
                        config.display(),
                        cfg.listeners.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "{}: 1 problem(s):\n  scan.builtin.signature_dir = {}: fix the signature file ({e})",
                        config.display(),
                        e.file
                    );
                    ExitCode::from(2)
                }
            },
            Err(c) => c,
        },
        Cmd::Run { config } => match load(&config) {
            Ok(cfg) => run(cfg),
            Err(c) => c,
        },
        Cmd::Nft { action, config } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(c) => return c,
            };
            let r = match action {
                NftAction::Print => {
                    print!("{}", nft::ruleset(&cfg));
                    Ok(())
                }
                NftAction::Apply => nft::apply(&cfg),
                NftAction::Remove => nft::remove(&cfg),
            };
            match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Quarantine { action, config } => {
            let cfg = match load(config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG))) {
                Ok(c) => c,
                Err(c) => return c,
            };
            quarantine_cmd(&cfg, action)
        }
        Cmd::Sessions { action, config } => {
            let cfg = match load(config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG))) {
                Ok(c) => c,
                Err(c) => return c,
            };
            sessions_cmd(&cfg, action)
        }
        Cmd::Train { args, config } => {
            match load(config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG))) {
                Ok(cfg) => bayes_done(&cfg, bayes_train::train(&cfg, &args)),
                Err(c) => c,
            }
        }
        Cmd::Bayes { action, config } => {
            let cfg = match load(config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG))) {
                Ok(c) => c,
                Err(c) => return c,
            };
            match action {
                BAction::Stats => bayes_done(&cfg, bayes_train::stats(&cfg.scan.bayes.db_path)),
                BAction::Classify { paths } => {
                    match bayes_train::classify_paths(&cfg, &paths, &mut std::io::stdout().lock()) {
                        Ok(totals) => {
                            eprintln!("{totals}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => fail(e),
                    }
                }
            }
        }
    }
}

/// Prints a Bayes command's result, or its error with the database path.
fn bayes_done<T: std::fmt::Display, E: std::fmt::Display>(
    cfg: &Config,
    r: Result<T, E>,
) -> ExitCode {
    match r {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{}: {e}", cfg.scan.bayes.db_path.display())),
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::FAILURE
}

fn quarantine_cmd(cfg: &Config, action: QAction) -> ExitCode {
    let q = match Quarantine::open(&cfg.quarantine.dir) {
        Ok(q) => q,
        Err(e) => return fail(format!("quarantine {}: {e}", cfg.quarantine.dir.display())),
    };
    let parse = |id: &str| {
        QuarantineId::parse(id).ok_or_else(|| fail(format!("not a quarantine id: {id:?}")))
    };
    match action {
        QAction::List => match q.list() {
            Ok(list) => {
                for r in list {
                    println!(
                        "{}  {}  {}  user={} from={} subject={:?}{}",
                        r.id,
                        r.time,
                        r.verdict,
                        r.user,
                        r.from,
                        r.subject,
                        if r.released { "  (released)" } else { "" }
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        QAction::Show { id } => {
            let id = match parse(&id) {
                Ok(i) => i,
                Err(c) => return c,
            };
            match q.get(&id) {
                Ok(r) => {
                    println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("{id}: {e}")),
            }
        }
        QAction::Release { id, out } => {
            let id = match parse(&id) {
                Ok(i) => i,
                Err(c) => return c,
            };
            let r = match out {
                Some(p) => std::fs::File::create(&p).and_then(|mut f| q.release(&id, &mut f)),
                None => q.release(&id, &mut std::io::stdout().lock()),
            };
            match r {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{id}: {e}")),
            }
        }
        QAction::Purge { days } => match q.purge(days.unwrap_or(cfg.quarantine.retention_days)) {
            Ok(n) => {
                println!("purged {n} entr{}", if n == 1 { "y" } else { "ies" });
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    }
}

fn sessions_cmd(cfg: &Config, action: SAction) -> ExitCode {
    let dir = &cfg.general.session_log_dir;
    match action {
        SAction::List => match session_log::list(dir) {
            Ok(files) => {
                for f in files {
                    println!("{}\n    {}\n    {}", f.id, f.first, f.last);
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("{}: {e}", dir.display())),
        },
        SAction::Show { id } => {
            let Some(sid) = SessionId::parse(&id) else {
                return fail(format!("not a session id: {id:?}"));
            };
            match session_log::read(dir, &sid) {
                Ok(t) => {
                    print!("{t}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("{id}: {e}")),
            }
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => b.init(),
    }
}

fn run(cfg: Config) -> ExitCode {
    init_tracing(cfg.general.log_format);
    for (key, dir) in [
        ("general.session_log_dir", &cfg.general.session_log_dir),
        ("general.spool_dir", &cfg.general.spool_dir),
    ] {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return fail(format!("{key} = {}: cannot create ({e})", dir.display()));
        }
    }
    let quarantine = match Quarantine::open(&cfg.quarantine.dir) {
        Ok(q) => q,
        Err(e) => {
            return fail(format!(
                "quarantine.dir = {}: cannot create ({e})",
                cfg.quarantine.dir.display()
            ));
        }
    };
    let withheld = match Withheld::open(&cfg.quarantine.dir.join("withheld")) {
        Ok(w) => w,
        Err(e) => {
            return fail(format!(
                "quarantine.dir = {}: cannot create withheld/ ({e})",
                cfg.quarantine.dir.display()
            ));
        }
    };
    let pipeline = match Pipeline::new(&cfg.scan) {
        Ok(p) => p,
        Err(e) => return fail(format!("scan.builtin.signature_dir: {e}")),
    };
    let notice = match &cfg.policy.notice_template {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => return fail(format!("policy.notice_template = {}: {e}", p.display())),
        },
        None => portcullis::message::rewrite::DEFAULT_NOTICE.to_string(),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("local: cannot start runtime: {e}")),
    };
    rt.block_on(async move {
        let shared = Arc::new(Shared::new(cfg, pipeline, quarantine, withheld, notice));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for l in &shared.cfg.listeners {
            let sock = match listener::bind(l.listen) {
                Ok(s) => s,
                Err(e) => return fail(format!("listener {}: cannot listen: {e}", l.listen)),
            };
            tracing::info!(listen = %l.listen, protocol = %l.protocol, "listening");
            tasks.push(tokio::spawn(listener::serve(
                sock,
                l.clone(),
                shared.clone(),
                stop_rx.clone(),
            )));
        }
        wait_for_signal().await;
        tracing::info!("shutting down: no new connections; waiting for open sessions");
        let _ = stop_tx.send(true);
        let max = shared.cfg.limits.max_connections as u32;
        let drained = tokio::time::timeout(
            Duration::from_secs(30),
            shared.connections.acquire_many(max),
        )
        .await;
        if drained.is_err() {
            tracing::warn!("sessions still open after 30 s; exiting");
        }
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
