//! The application context: everything sessions share (configuration, scan pipeline,
//! quarantine, withheld registry, abuse counters, notice template). It knows nothing of
//! listeners or sockets. A reload builds a new `App` from the new configuration that keeps
//! the old one's process-wide state (metrics, abuse counters, live sessions).
use std::sync::Arc;

use crate::abuse::Abuse;
use crate::config::Config;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;
use crate::scan::Pipeline;
use crate::verdict_cache::VerdictCache;
use crate::withheld::Withheld;

pub struct App {
    pub cfg: Config,
    pub pipeline: Pipeline,
    pub quarantine: Quarantine,
    pub withheld: Withheld,
    pub abuse: Arc<Abuse>,
    pub notice_template: String,
    /// TLS interception, once a local CA exists (`portcullis ca init`).
    pub tls: Option<crate::tls::Interceptor>,
    pub metrics: Arc<Metrics>,
    /// The sessions open now, for `sessions kill`.
    pub live: Arc<Live>,
    /// IMAP verdicts per message; a new one after every reload (new signatures).
    pub verdicts: VerdictCache,
}

impl App {
    /// Opens what the configuration names: directories, quarantine, signatures, the
    /// notice template. The error says which key and what went wrong.
    pub fn open(cfg: Config) -> Result<App, String> {
        App::open_keeping(cfg, None)
    }

    /// Like `open`; with `old`, the new `App` shares its metrics, live sessions and abuse
    /// state (which takes the new `[abuse]` rules).
    pub fn open_keeping(cfg: Config, old: Option<&App>) -> Result<App, String> {
        for (key, dir) in [
            ("general.session_log_dir", &cfg.general.session_log_dir),
            ("general.spool_dir", &cfg.general.spool_dir),
        ] {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("{key} = {}: cannot create ({e})", dir.display()))?;
        }
        let qdir = &cfg.quarantine.dir;
        let quarantine = Quarantine::open(qdir)
            .map_err(|e| format!("quarantine.dir = {}: cannot create ({e})", qdir.display()))?;
        let withheld = Withheld::open(&qdir.join("withheld")).map_err(|e| {
            format!(
                "quarantine.dir = {}: cannot create withheld/ ({e})",
                qdir.display()
            )
        })?;
        let pipeline = Pipeline::new(&cfg.scan, &cfg.general.spool_dir)
            .map_err(|e| format!("scan.builtin.signature_dir: {e}"))?;
        let notice_template = match &cfg.policy.notice_template {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("policy.notice_template = {}: {e}", p.display()))?,
            None => crate::message::rewrite::DEFAULT_NOTICE.to_string(),
        };
        let tls = crate::tls::load(&cfg.tls).map_err(|e| e.to_string())?;
        let mut app = App::new(cfg, pipeline, quarantine, withheld, notice_template);
        if let Some(old) = old {
            old.abuse.reconfigure(&app.cfg.abuse);
            app.abuse = old.abuse.clone();
            app.metrics = old.metrics.clone();
            app.live = old.live.clone();
        }
        app.tls = tls;
        Ok(app)
    }

    pub fn new(
        cfg: Config,
        pipeline: Pipeline,
        quarantine: Quarantine,
        withheld: Withheld,
        notice_template: String,
    ) -> App {
        let metrics = Arc::new(Metrics::new());
        let live = Arc::new(Live::default());
        let verdicts = VerdictCache::new(
            cfg.imap.verdict_cache_entries,
            std::time::Duration::from_secs(cfg.imap.verdict_cache_secs),
        );
        App {
            verdicts,
            abuse: Arc::new(Abuse::with(&cfg.abuse, metrics.clone(), live.clone())),
            metrics,
            live,
            cfg,
            pipeline,
            quarantine,
            withheld,
            notice_template,
            tls: None,
        }
    }
}
