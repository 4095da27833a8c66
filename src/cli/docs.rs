//! Manual pages (clap_mangen) and shell completions (clap_complete), generated from the
//! same command definition `--help` prints, so they never disagree with the binary.
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

#[derive(clap::Args)]
pub struct ManArgs {
    /// Directory to write portcullis.1 and portcullis-SUBCOMMAND.1 into (created if missing).
    pub dir: PathBuf,
}

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn man<C: CommandFactory>(args: &ManArgs) -> ExitCode {
    let written = std::fs::create_dir_all(&args.dir)
        .and_then(|()| clap_mangen::generate_to(C::command(), &args.dir))
        .and_then(|()| pages(&args.dir));
    match written {
        Ok(pages) => {
            for p in pages {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: cannot write manual pages: {e}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}

/// The pages now in `dir`, sorted, for the admin to see what was written.
fn pages(dir: &std::path::Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("portcullis") && name.ends_with(".1") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

pub fn completions<C: CommandFactory>(args: &CompletionsArgs) -> ExitCode {
    let mut cmd = C::command();
    clap_complete::generate(args.shell, &mut cmd, "portcullis", &mut io::stdout());
    ExitCode::SUCCESS
}
