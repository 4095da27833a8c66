//! `portcullis quarantine`: list, show, release and purge quarantined originals.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use portcullis::config::Config;
use portcullis::ids::QuarantineId;
use portcullis::quarantine::Quarantine;

use super::fail;

#[derive(Subcommand)]
pub enum QAction {
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

pub fn run(cfg: &Config, action: QAction) -> ExitCode {
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
