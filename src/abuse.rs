//! Protects the organisation from its own compromised accounts and machines: sending rate
//! limits per authenticated user and per client address, and a lockout after repeated
//! failed logins, shared by every protocol. Every limit hit or lockout is an alert: a
//! structured warning, and optionally a command the admin configured.
//!
//! Counters live behind the `Counters` trait; `MemoryCounters` keeps them in this process.
//! A store shared by several gateways can implement the same trait.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::config::{Abuse as Cfg, RateScope, RateWhat};
use crate::live::{Live, Selector};
use crate::metrics::Metrics;

/// Sliding-window counters keyed by strings.
pub trait Counters: Send + Sync {
    /// The sum of what was added to `key` within `window` before `now`.
    fn total(&self, key: &str, window: Duration, now: Instant) -> u64;
    fn add(&self, key: &str, amount: u64, now: Instant);
    fn clear(&self, key: &str);
    /// The longest window in use changed (a reload).
    fn set_horizon(&self, _horizon: Duration) {}
}

/// Who is acting: the client address always, the user once known.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub client: IpAddr,
    pub user: Option<&'a str>,
}

/// A limit that was hit, for the reply, the log and the alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub kind: &'static str,
    pub scope: &'static str,
    pub key: String,
    pub detail: String,
}

pub struct Abuse {
    /// Replaced by a reload; the counters, blocks and alert times stay.
    cfg: RwLock<Cfg>,
    metrics: Arc<Metrics>,
    live: Arc<Live>,
    counters: Box<dyn Counters>,
    /// Blocked keys and until when (lockout).
    blocked: Mutex<HashMap<String, Instant>>,
    /// When each key last raised an alert, so one incident is one alert.
    alerted: Mutex<HashMap<String, Instant>>,
}

fn scope_name(s: RateScope) -> &'static str {
    match s {
        RateScope::User => "user",
        RateScope::Client => "client",
    }
}

impl Abuse {
    pub fn new(cfg: &Cfg) -> Abuse {
        Abuse::with(cfg, Arc::default(), Arc::default())
    }

    /// Counters that report to `metrics` and end sessions in `live` (`end_sessions`).
    pub fn with(cfg: &Cfg, metrics: Arc<Metrics>, live: Arc<Live>) -> Abuse {
        let horizon = Self::horizon(cfg);
        Abuse {
            cfg: RwLock::new(cfg.clone()),
            metrics,
            live,
            counters: Box::new(MemoryCounters::new(
                Duration::from_secs(horizon),
                cfg.max_tracked_keys,
            )),
            blocked: Mutex::new(HashMap::new()),
            alerted: Mutex::new(HashMap::new()),
        }
    }

    fn horizon(cfg: &Cfg) -> u64 {
        cfg.rate
            .iter()
            .map(|r| r.window_secs)
            .chain([cfg.lockout.window_secs])
            .max()
            .unwrap_or(3600)
    }

    fn cfg(&self) -> RwLockReadGuard<'_, Cfg> {
        self.cfg.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the rules of a reloaded config; what was counted so far stays.
    pub fn reconfigure(&self, cfg: &Cfg) {
        let horizon = Self::horizon(cfg);
        *self.cfg.write().unwrap_or_else(|p| p.into_inner()) = cfg.clone();
        self.counters.set_horizon(Duration::from_secs(horizon));
    }

    fn key(scope: RateScope, what: RateWhat, actor: &Actor) -> Option<String> {
        let w = match what {
            RateWhat::Messages => "msg",
            RateWhat::Recipients => "rcpt",
            RateWhat::Bytes => "bytes",
        };
        match scope {
            RateScope::User => actor
                .user
                .map(|u| format!("rate:{w}:user:{}", u.to_ascii_lowercase())),
            RateScope::Client => Some(format!("rate:{w}:client:{}", actor.client)),
        }
    }

    /// Whether `amount` more of `what` stays within every applicable rule.
    pub fn check(
        &self,
        what: RateWhat,
        amount: u64,
        actor: &Actor,
        now: Instant,
    ) -> Result<(), Hit> {
        for r in self.cfg().rate.iter().filter(|r| r.what == what) {
            let Some(key) = Self::key(r.scope, what, actor) else {
                continue;
            };
            let used = self
                .counters
                .total(&key, Duration::from_secs(r.window_secs), now);
            if used + amount > r.max {
                let who = match r.scope {
                    RateScope::User => actor.user.unwrap_or("-").to_string(),
                    RateScope::Client => actor.client.to_string(),
                };
                return Err(Hit {
                    kind: "rate_limit",
                    scope: scope_name(r.scope),
                    key: who,
                    detail: format!(
                        "{what:?} limit {} per {} s reached ({} used, {} more asked)",
                        r.max, r.window_secs, used, amount
                    )
                    .to_lowercase(),
                });
            }
        }
        Ok(())
    }

    /// Counts what was sent, in every scope that has a rule for it.
    pub fn record(&self, what: RateWhat, amount: u64, actor: &Actor, now: Instant) {
        let mut seen = Vec::new();
        for r in self.cfg().rate.iter().filter(|r| r.what == what) {
            if let Some(key) = Self::key(r.scope, what, actor)
                && !seen.contains(&key)
            {
                self.counters.add(&key, amount, now);
                seen.push(key);
            }
        }
    }

    fn lock_keys(actor: &Actor) -> Vec<(&'static str, String, String)> {
        let mut keys = vec![(
            "client",
            format!("login:client:{}", actor.client),
            actor.client.to_string(),
        )];
        if let Some(u) = actor.user {
            keys.push((
                "user",
                format!("login:user:{}", u.to_ascii_lowercase()),
                u.to_string(),
            ));
        }
        keys
    }

    /// Whether a login may be tried now: neither the client address nor the user is locked out.
    pub fn login_allowed(&self, actor: &Actor, now: Instant) -> Result<(), Hit> {
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        for (scope, key, who) in Self::lock_keys(actor) {
            if let Some(until) = blocked.get(&key)
                && *until > now
            {
                return Err(Hit {
                    kind: "lockout",
                    scope,
                    key: who,
                    detail: format!(
                        "locked out for {} s more",
                        until.duration_since(now).as_secs() + 1
                    ),
                });
            }
        }
        Ok(())
    }

    /// Counts a failed login; returns the lockouts it starts.
    pub fn login_failed(&self, actor: &Actor, now: Instant) -> Vec<Hit> {
        let cfg = self.cfg();
        let l = &cfg.lockout;
        let mut hits = Vec::new();
        if l.max_failures == 0 {
            return hits;
        }
        for (scope, key, who) in Self::lock_keys(actor) {
            self.counters.add(&key, 1, now);
            let n = self
                .counters
                .total(&key, Duration::from_secs(l.window_secs), now);
            if n >= l.max_failures {
                let until = now + Duration::from_secs(l.block_secs);
                self.blocked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), until);
                self.counters.clear(&key);
                hits.push(Hit {
                    kind: "lockout",
                    scope,
                    key: who,
                    detail: format!(
                        "{n} failed logins within {} s: blocked for {} s",
                        l.window_secs, l.block_secs
                    ),
                });
            }
        }
        hits
    }

    /// Whether this hit should raise an alert now (one per key per `alert.cooldown_secs`).
    pub fn should_alert(&self, hit: &Hit, now: Instant) -> bool {
        let key = format!("{}:{}:{}", hit.kind, hit.scope, hit.key);
        let mut m = self.alerted.lock().unwrap_or_else(|p| p.into_inner());
        let cooldown = Duration::from_secs(self.cfg().alert.cooldown_secs);
        match m.get(&key) {
            Some(t) if now.saturating_duration_since(*t) < cooldown => false,
            _ => {
                if m.len() >= self.cfg().max_tracked_keys {
                    m.retain(|_, t| now.saturating_duration_since(*t) < cooldown);
                }
                m.insert(key, now);
                true
            }
        }
    }

    /// Records a hit in the session log and raises the alert.
    pub fn report(
        &self,
        log: &mut crate::session_log::SessionLog,
        hit: &Hit,
        session: &str,
        protocol: &str,
        actor: &Actor,
    ) {
        log.event(
            "limit",
            &format!(
                "{} scope={} key={} {}",
                hit.kind, hit.scope, hit.key, hit.detail
            ),
        );
        self.metrics.abuse_hit(hit.kind, hit.scope);
        self.alert(hit, session, protocol, actor, Instant::now());
        if self.cfg().end_sessions {
            self.end_sessions(log, hit);
        }
    }

    /// Ends the live sessions of the user or client a hit names (`abuse.end_sessions`).
    fn end_sessions(&self, log: &mut crate::session_log::SessionLog, hit: &Hit) {
        let sel = match hit.scope {
            "user" => Selector::User(hit.key.clone()),
            _ => match hit.key.parse() {
                Ok(ip) => Selector::Client(ip),
                Err(_) => return,
            },
        };
        let n = self.live.kill(&sel);
        self.metrics.killed("abuse", n as u64);
        log.event(
            "limit",
            &format!(
                "ended {n} live session(s) of {} {} (abuse.end_sessions)",
                hit.scope, hit.key
            ),
        );
    }

    /// Counts a failed login and reports the lockouts it starts.
    pub fn report_failed_login(
        &self,
        log: &mut crate::session_log::SessionLog,
        session: &str,
        protocol: &str,
        actor: &Actor,
    ) {
        for hit in self.login_failed(actor, Instant::now()) {
            self.metrics.lockout_started(hit.scope);
            self.report(log, &hit, session, protocol, actor);
        }
    }

    /// Whether a login may be tried; a refusal is reported.
    pub fn check_login(
        &self,
        log: &mut crate::session_log::SessionLog,
        session: &str,
        protocol: &str,
        actor: &Actor,
    ) -> bool {
        match self.login_allowed(actor, Instant::now()) {
            Ok(()) => true,
            Err(hit) => {
                self.report(log, &hit, session, protocol, actor);
                false
            }
        }
    }
}

mod alert;
mod memory;
pub use memory::MemoryCounters;
#[cfg(test)]
mod tests;
