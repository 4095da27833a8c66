//! `portcullis train` and `portcullis bayes`: teaching and inspecting the Bayes filter.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use portcullis::config::Config;
use portcullis::scan::bayes::train as bayes_train;

use super::fail;

#[derive(Subcommand)]
pub enum BAction {
    /// Messages learned, tokens, file size.
    Stats,
    /// Print each message's spam probability (Maildir, mbox, files), and the speed.
    Classify { paths: Vec<PathBuf> },
}

pub fn train(cfg: &Config, args: &bayes_train::TrainArgs) -> ExitCode {
    done(cfg, bayes_train::train(cfg, args))
}

pub fn run(cfg: &Config, action: BAction) -> ExitCode {
    match action {
        BAction::Stats => done(cfg, bayes_train::stats(&cfg.scan.bayes.db_path)),
        BAction::Classify { paths } => {
            match bayes_train::classify_paths(cfg, &paths, &mut std::io::stdout().lock()) {
                Ok(totals) => {
                    eprintln!("{totals}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

/// Prints a Bayes command's result, or its error with the database path.
fn done<T: std::fmt::Display, E: std::fmt::Display>(cfg: &Config, r: Result<T, E>) -> ExitCode {
    match r {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{}: {e}", cfg.scan.bayes.db_path.display())),
    }
}
