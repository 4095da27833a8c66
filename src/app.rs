//! The application context: everything sessions share (configuration, scan pipeline,
//! quarantine, withheld registry, abuse counters, notice template). It knows nothing of
//! listeners or sockets.
use crate::abuse::Abuse;
use crate::config::Config;
use crate::quarantine::Quarantine;
use crate::scan::Pipeline;
use crate::withheld::Withheld;

pub struct App {
    pub cfg: Config,
    pub pipeline: Pipeline,
    pub quarantine: Quarantine,
    pub withheld: Withheld,
    pub abuse: Abuse,
    pub notice_template: String,
    /// TLS interception, once a local CA exists (`portcullis ca init`).
    pub tls: Option<crate::tls::Interceptor>,
}

impl App {
    /// Opens what the configuration names: directories, quarantine, signatures, the
    /// notice template. The error says which key and what went wrong.
    pub fn open(cfg: Config) -> Result<App, String> {
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
        let pipeline =
            Pipeline::new(&cfg.scan).map_err(|e| format!("scan.builtin.signature_dir: {e}"))?;
        let notice_template = match &cfg.policy.notice_template {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("policy.notice_template = {}: {e}", p.display()))?,
            None => crate::message::rewrite::DEFAULT_NOTICE.to_string(),
        };
        let tls = crate::tls::load(&cfg.tls).map_err(|e| e.to_string())?;
        let mut app = App::new(cfg, pipeline, quarantine, withheld, notice_template);
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
        App {
            abuse: Abuse::new(&cfg.abuse),
            cfg,
            pipeline,
            quarantine,
            withheld,
            notice_template,
            tls: None,
        }
    }
}
