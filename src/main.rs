#![forbid(unsafe_code)]
//! The portcullis command line.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use portcullis::app::App;
use portcullis::config::{Config, LogFormat};
use portcullis::ids::SessionId;
use portcullis::scan::Pipeline;
use portcullis::server::Server;
use portcullis::{nft, session_log};

mod cli;

use cli::fail;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = cli::ABOUT,
    long_about = cli::LONG_ABOUT
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the proxy in the foreground (logs to stderr).
    Run {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a config file; every problem is printed with key, value and fix.
    Check {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Print, apply or remove the nftables interception ruleset.
    Nft {
        #[arg(value_enum)]
        action: NftAction,
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Inspect and manage quarantined originals.
    Quarantine {
        #[command(subcommand)]
        action: cli::quarantine::QAction,
        /// Config file [default: /etc/portcullis/portcullis.toml]
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// Re-read the config, notice template and signatures in the running proxy (through
    /// control.socket; SIGHUP does the same). Open sessions keep going.
    Reload {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Read per-session logs.
    Sessions {
        #[command(subcommand)]
        action: SAction,
        /// Config file [default: /etc/portcullis/portcullis.toml]
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// Create, inspect and export the local CA that TLS interception mints leaves from.
    Ca {
        #[command(subcommand)]
        action: portcullis::tls::cli::CaAction,
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// Scan message files (or - for stdin) with the configured engines; exit 0 clean, 1 found, 2 error.
    Scan(cli::scan::ScanArgs),
    /// Write the manual pages (portcullis.1 and one per subcommand) into a directory.
    Man(cli::docs::ManArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli::docs::CompletionsArgs),
    /// Teach the Bayes classifier spam and ham from Maildir folders, mbox files and
    /// directories of messages (a message learned twice counts once).
    Train {
        #[command(flatten)]
        args: portcullis::scan::bayes::train::TrainArgs,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Inspect the Bayes database.
    Bayes {
        #[command(subcommand)]
        action: cli::bayes::BAction,
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum NftAction {
    Print,
    Apply,
    Remove,
}

#[derive(Subcommand)]
enum SAction {
    /// End the live sessions of a user or a client address in the running proxy (through
    /// control.socket); a message in flight is refused with a temporary error.
    Kill {
        #[arg(long, conflicts_with = "client", required_unless_present = "client")]
        user: Option<String>,
        #[arg(long)]
        client: Option<std::net::IpAddr>,
    },
    /// The sessions open now in the running proxy (through control.socket), one JSON
    /// object a line.
    Live,
    /// One entry per session, oldest first; filters combine (all must match).
    List(cli::sessions::ListArgs),
    /// The whole log of one session.
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

/// `load`, then the paths the config names (`Config::check_files`): for `check` and `run`.
fn load_checked(path: &Path) -> Result<Config, ExitCode> {
    let cfg = load(path)?;
    let errs = cfg.check_files();
    if errs.is_empty() {
        return Ok(cfg);
    }
    eprintln!("{}: {} problem(s):", path.display(), errs.len());
    for e in errs {
        eprintln!("  {e}");
    }
    Err(ExitCode::from(2))
}

fn main() -> ExitCode {
    // Before any thread starts: the allocator gives memory back after a burst of large messages.
    portcullis::net::tune_allocator();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Check { config } => check_cmd(&config),
        Cmd::Run { config } => match load_checked(&config) {
            Ok(cfg) => run(cfg, config),
            Err(c) => c,
        },
        Cmd::Nft { action, config } => nft_cmd(&config, action),
        Cmd::Quarantine { action, config } => {
            with_config(config, |cfg| cli::quarantine::run(cfg, action))
        }
        Cmd::Reload { config } => with_config(config, |cfg| {
            control_cmd(cfg, &portcullis::control::Request::Reload)
        }),
        Cmd::Sessions { action, config } => with_config(config, |cfg| sessions_cmd(cfg, action)),
        Cmd::Ca { action, config } => with_config(config, |cfg| {
            portcullis::tls::cli::run(&cfg.tls, &cfg.general.hostname, action)
        }),
        Cmd::Scan(args) => cli::scan::run(&args),
        Cmd::Man(args) => cli::docs::man::<Cli>(&args),
        Cmd::Completions(args) => cli::docs::completions::<Cli>(&args),
        Cmd::Train { args, config } => with_config(config, |cfg| cli::bayes::train(cfg, &args)),
        Cmd::Bayes { action, config } => with_config(config, |cfg| cli::bayes::run(cfg, action)),
    }
}

/// `portcullis check`: the config, the files it names, the signatures and the CA.
fn check_cmd(config: &Path) -> ExitCode {
    match load_checked(config) {
        Ok(cfg) => match Pipeline::new(&cfg.scan, &cfg.general.spool_dir) {
            Ok(_) => {
                if let Err(e) = portcullis::tls::load(&cfg.tls) {
                    eprintln!("{}: 1 problem(s):\n  {e}", config.display());
                    return ExitCode::from(2);
                }
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
    }
}

/// `portcullis nft print | apply | remove`.
fn nft_cmd(config: &Path, action: NftAction) -> ExitCode {
    let cfg = match load(config) {
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

/// Loads the config named (or the default one) and runs `f` with it.
fn with_config(config: Option<PathBuf>, f: impl FnOnce(&Config) -> ExitCode) -> ExitCode {
    match load(config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG))) {
        Ok(cfg) => f(&cfg),
        Err(c) => c,
    }
}

fn sessions_cmd(cfg: &Config, action: SAction) -> ExitCode {
    let dir = &cfg.general.session_log_dir;
    match action {
        SAction::Kill { user, client } => {
            control_cmd(cfg, &portcullis::control::Request::Kill { user, client })
        }
        SAction::Live => {
            match portcullis::control::client::send(cfg, &portcullis::control::Request::List) {
                Ok(a) if a.ok => {
                    for s in a.sessions {
                        println!("{}", serde_json::to_string(&s).unwrap_or_default());
                    }
                    ExitCode::SUCCESS
                }
                Ok(a) => fail(a.message),
                Err(e) => fail(e),
            }
        }
        SAction::List(args) => cli::sessions::list(dir, &args),
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

/// Sends one request to the running proxy and prints its answer.
fn control_cmd(cfg: &Config, req: &portcullis::control::Request) -> ExitCode {
    match portcullis::control::client::send(cfg, req) {
        Ok(a) if a.ok => {
            println!("{}", a.message);
            ExitCode::SUCCESS
        }
        Ok(a) => fail(a.message),
        Err(e) => fail(e),
    }
}

fn run(cfg: Config, path: PathBuf) -> ExitCode {
    init_tracing(cfg.general.log_format);
    let app = match App::open(cfg) {
        Ok(a) => Arc::new(a),
        Err(e) => return fail(e),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("local: cannot start runtime: {e}")),
    };
    rt.block_on(async move {
        let server = match Server::start(app.clone()) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        server.reloader.set_path(path);
        portcullis::admin::until_stop_signal(&server.reloader).await;
        tracing::info!("shutting down: no new connections; open sessions finish their message");
        if !server.shutdown().await {
            tracing::warn!(
                "sessions still open after limits.shutdown_drain_secs ({} s); exiting",
                app.cfg.limits.shutdown_drain_secs
            );
        }
        ExitCode::SUCCESS
    })
}
