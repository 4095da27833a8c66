//! Reloading the configuration without dropping sessions (SIGHUP, `portcullis reload`):
//! the file is read and checked as `portcullis check` does, a new `App` is opened from it
//! (pipeline, signatures, notice template) sharing the old one's metrics, abuse state and
//! live sessions, and new sessions get it; running sessions keep the `App` they started
//! with. A config that fails, or that changes what only a restart can change (listeners,
//! connection caps, the metrics and control endpoints, the log format), is refused with a
//! log line, and the running one stays.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::app::App;
use crate::config::Config;

/// The current `App`, and how to replace it.
pub struct Reloader {
    path: Mutex<Option<PathBuf>>,
    current: watch::Sender<Arc<App>>,
    /// One reload at a time.
    busy: Mutex<()>,
}

impl Reloader {
    pub fn new(app: Arc<App>) -> Reloader {
        Reloader {
            path: Mutex::new(None),
            current: watch::Sender::new(app),
            busy: Mutex::new(()),
        }
    }

    /// Where a reload reads the configuration from.
    pub fn set_path(&self, path: PathBuf) {
        *self.path.lock().unwrap_or_else(|p| p.into_inner()) = Some(path);
    }

    /// The `App` new sessions get.
    pub fn current(&self) -> Arc<App> {
        self.current.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<App>> {
        self.current.subscribe()
    }

    /// Re-reads the configuration; `Ok` says what was applied, `Err` why nothing was. Both
    /// are logged. Blocking (it reads files): call it off the reactor.
    pub fn reload(&self) -> Result<String, String> {
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.current();
        let r = self.try_reload(&old);
        old.metrics.reload(r.is_ok());
        match &r {
            Ok(m) => tracing::info!("reload: {m}"),
            Err(e) => tracing::error!("reload refused, the running configuration stays: {e}"),
        }
        r
    }

    fn try_reload(&self, old: &Arc<App>) -> Result<String, String> {
        let path = self.path.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(path) = path else {
            return Err("no config file to reload from".into());
        };
        let shown = path.display().to_string();
        let problems = |errs: Vec<crate::config::ConfigError>| {
            let list: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            format!("{shown}: {} problem(s): {}", list.len(), list.join("; "))
        };
        let cfg = Config::load(&path).map_err(problems)?;
        let errs = cfg.check_files();
        if !errs.is_empty() {
            return Err(problems(errs));
        }
        let changed = restart_only(&old.cfg, &cfg);
        if !changed.is_empty() {
            return Err(format!(
                "{shown}: {} changed: restart needed (systemctl restart portcullis)",
                changed.join(", ")
            ));
        }
        let app = App::open_keeping(cfg, Some(old)).map_err(|e| format!("{shown}: {e}"))?;
        self.current.send_replace(Arc::new(app));
        Ok(format!(
            "{shown} applied: new sessions use it; {} open session(s) keep theirs",
            old.live.list().len()
        ))
    }
}

/// The keys a reload cannot apply, where `new` differs from `old`.
pub fn restart_only(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut v = Vec::new();
    let same =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
    if !same(&old.listeners, &new.listeners) {
        v.push("[[listener]]");
    }
    if old.limits.max_connections != new.limits.max_connections {
        v.push("limits.max_connections");
    }
    if old.limits.max_connections_per_client != new.limits.max_connections_per_client {
        v.push("limits.max_connections_per_client");
    }
    if old.metrics != new.metrics {
        v.push("[metrics]");
    }
    if old.control != new.control {
        v.push("[control]");
    }
    if !same(&old.general.log_format, &new.general.log_format) {
        v.push("general.log_format");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[[listener]]\nprotocol = \"pop3\"\nlisten = \"127.0.0.1:10110\"\nupstream = \"127.0.0.1:110\"\n";

    #[test]
    fn only_process_wide_keys_need_a_restart() {
        let old = Config::parse(BASE).unwrap();
        let same = Config::parse(&format!("{BASE}[limits]\nidle_timeout_secs = 60\n")).unwrap();
        assert!(restart_only(&old, &same).is_empty());
        let moved = Config::parse(&BASE.replace("10110", "10111")).unwrap();
        assert_eq!(restart_only(&old, &moved), vec!["[[listener]]"]);
        let caps = Config::parse(&format!(
            "{BASE}[limits]\nmax_connections = 50\n[metrics]\nlisten = \"127.0.0.1:9325\"\n"
        ))
        .unwrap();
        assert_eq!(
            restart_only(&old, &caps),
            vec!["limits.max_connections", "[metrics]"]
        );
    }

    #[test]
    fn a_reloaded_app_keeps_abuse_counts_metrics_and_live_sessions() {
        use crate::abuse::Actor;
        use crate::config::RateWhat;
        use std::time::Instant;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let text = format!(
            "[general]\nsession_log_dir = \"{d}/s\"\nspool_dir = \"{d}/p\"\n[quarantine]\ndir = \"{d}/q\"\n{BASE}"
        );
        let old = App::open(Config::parse(&text).unwrap()).unwrap();
        let actor = Actor {
            client: "192.0.2.1".parse().unwrap(),
            user: None,
        };
        let now = Instant::now();
        old.abuse.record(RateWhat::Messages, 300, &actor, now);
        assert!(old.abuse.check(RateWhat::Messages, 1, &actor, now).is_err());
        let new_cfg = Config::parse(&format!("{text}[limits]\nidle_timeout_secs = 60\n")).unwrap();
        let new = App::open_keeping(new_cfg, Some(&old)).unwrap();
        assert_eq!(new.cfg.limits.idle_timeout_secs, 60);
        assert!(
            new.abuse.check(RateWhat::Messages, 1, &actor, now).is_err(),
            "the count survives the reload"
        );
        assert!(Arc::ptr_eq(&old.metrics, &new.metrics));
        assert!(Arc::ptr_eq(&old.live, &new.live));
        let fresh = App::open(Config::parse(&text).unwrap()).unwrap();
        assert!(
            fresh
                .abuse
                .check(RateWhat::Messages, 1, &actor, now)
                .is_ok()
        );
    }
}
