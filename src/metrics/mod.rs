//! Prometheus metrics: one registry per process, kept across reloads, fed by hooks where
//! the session layer already has the facts (session start and end, held messages, the
//! per-message log lines, quarantine, abuse reports) and served by [`http`] when
//! `metrics.listen` is set. Labels take values from small fixed sets only (protocol, verdict
//! kind, action, side, engine, reason class), never from user names or addresses.
pub mod http;
mod names;
pub mod text;

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::scan::Verdict;
pub use names::{end_class, scan_failure};

type L1 = [(&'static str, &'static str); 1];
type L2 = [(&'static str, &'static str); 2];
type L3 = [(&'static str, &'static str); 3];
type L4 = [(&'static str, &'static str); 4];

fn sizes() -> Histogram {
    // 1 KiB .. 64 MiB
    Histogram::new(exponential_buckets(1024.0, 4.0, 9))
}

fn latencies() -> Histogram {
    // 5 ms .. about 80 s
    Histogram::new(exponential_buckets(0.005, 2.5, 11))
}

/// Every metric portcullis exports (the README lists them with their labels).
pub struct Metrics {
    registry: Registry,
    sessions_started: Family<L1, Counter>,
    sessions_ended: Family<L2, Counter>,
    sessions_active: Family<L1, Gauge>,
    messages: Family<L4, Counter>,
    message_size: Family<L2, Histogram, fn() -> Histogram>,
    scan_duration: Family<L2, Histogram, fn() -> Histogram>,
    relayed: Family<L3, Counter>,
    scan_failures: Family<L2, Counter>,
    quarantine_entries: Family<L1, Counter>,
    quarantine_bytes: Family<L1, Counter>,
    abuse_hits: Family<L2, Counter>,
    lockouts: Family<L1, Counter>,
    connect_failures: Family<L1, Counter>,
    tls_failures: Family<L2, Counter>,
    held_bytes: Gauge<i64, AtomicI64>,
    held_messages: Gauge<i64, AtomicI64>,
    reloads: Family<L1, Counter>,
    sessions_killed: Family<L1, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("portcullis");
        let m = Metrics {
            sessions_started: Family::default(),
            sessions_ended: Family::default(),
            sessions_active: Family::default(),
            messages: Family::default(),
            message_size: Family::new_with_constructor(sizes),
            scan_duration: Family::new_with_constructor(latencies),
            relayed: Family::default(),
            scan_failures: Family::default(),
            quarantine_entries: Family::default(),
            quarantine_bytes: Family::default(),
            abuse_hits: Family::default(),
            lockouts: Family::default(),
            connect_failures: Family::default(),
            tls_failures: Family::default(),
            held_bytes: Gauge::default(),
            held_messages: Gauge::default(),
            reloads: Family::default(),
            sessions_killed: Family::default(),
            registry: Registry::default(),
        };
        r.register(
            "sessions_started",
            "Sessions accepted, by protocol",
            m.sessions_started.clone(),
        );
        r.register(
            "sessions_ended",
            "Sessions ended, by protocol and reason class",
            m.sessions_ended.clone(),
        );
        r.register(
            "sessions_active",
            "Sessions open now, by protocol",
            m.sessions_active.clone(),
        );
        r.register(
            "messages",
            "Messages judged, by protocol, direction, verdict and action",
            m.messages.clone(),
        );
        r.register_with_unit(
            "message_size",
            "Size of judged messages",
            Unit::Bytes,
            m.message_size.clone(),
        );
        r.register_with_unit(
            "scan_duration",
            "Time from the start of a held message to its verdict (receiving it included)",
            Unit::Seconds,
            m.scan_duration.clone(),
        );
        r.register_with_unit("relayed", "Bytes carried, by protocol, leg (client, server) and direction (in, out); counted when a session ends", Unit::Bytes, m.relayed.clone());
        r.register(
            "scan_failures",
            "Scans that gave no verdict, by engine and kind (error, timeout)",
            m.scan_failures.clone(),
        );
        r.register(
            "quarantine_entries",
            "Originals kept in quarantine, by protocol",
            m.quarantine_entries.clone(),
        );
        r.register_with_unit(
            "quarantine",
            "Bytes of originals kept in quarantine, by protocol",
            Unit::Bytes,
            m.quarantine_bytes.clone(),
        );
        r.register(
            "abuse_hits",
            "Rate limit and lockout hits, by kind and scope",
            m.abuse_hits.clone(),
        );
        r.register(
            "lockouts",
            "Login lockouts started, by scope (client, user)",
            m.lockouts.clone(),
        );
        r.register(
            "upstream_connect_failures",
            "Connections to the real server that failed, by protocol",
            m.connect_failures.clone(),
        );
        r.register(
            "tls_failures",
            "TLS handshakes that failed, by protocol and leg",
            m.tls_failures.clone(),
        );
        r.register_with_unit(
            "held",
            "Bytes of messages held for scanning now (memory and spool)",
            Unit::Bytes,
            m.held_bytes.clone(),
        );
        r.register(
            "held_messages",
            "Messages held for scanning now",
            m.held_messages.clone(),
        );
        r.register(
            "config_reloads",
            "Configuration reloads, by result (applied, refused)",
            m.reloads.clone(),
        );
        r.register(
            "sessions_killed",
            "Sessions ended on request, by trigger (command, abuse)",
            m.sessions_killed.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        let _ = encode(&mut s, &self.registry);
        s
    }

    pub fn session_started(&self, protocol: &'static str) {
        self.sessions_started
            .get_or_create(&[("protocol", protocol)])
            .inc();
        self.sessions_active
            .get_or_create(&[("protocol", protocol)])
            .inc();
    }

    /// A session that `session_started` counted ended; `class` from [`end_class`].
    pub fn session_ended(&self, protocol: &'static str, class: &'static str, bytes: Relayed) {
        self.sessions_ended
            .get_or_create(&[("protocol", protocol), ("reason", class)])
            .inc();
        self.sessions_active
            .get_or_create(&[("protocol", protocol)])
            .dec();
        for (leg, dir, n) in [
            ("client", "in", bytes.client_in),
            ("client", "out", bytes.client_out),
            ("server", "in", bytes.server_in),
            ("server", "out", bytes.server_out),
        ] {
            self.relayed
                .get_or_create(&[("protocol", protocol), ("leg", leg), ("direction", dir)])
                .inc_by(n);
        }
    }

    /// A judged message: counted by verdict and action, its size and scan time observed,
    /// a scanner failure counted by engine.
    pub fn message(&self, m: MessageFacts<'_>) {
        let verdict = m.verdict.map(Verdict::kind).unwrap_or("none");
        self.messages
            .get_or_create(&[
                ("protocol", m.protocol),
                ("direction", m.direction),
                ("verdict", verdict),
                ("action", m.action),
            ])
            .inc();
        let l = [("protocol", m.protocol), ("direction", m.direction)];
        self.message_size.get_or_create(&l).observe(m.size as f64);
        if let Some(d) = m.scan {
            self.scan_duration
                .get_or_create(&l)
                .observe(d.as_secs_f64());
        }
        if let Some((engine, kind)) = m.verdict.and_then(scan_failure) {
            self.scan_failures
                .get_or_create(&[("engine", engine), ("kind", kind)])
                .inc();
        }
    }

    pub fn quarantined(&self, protocol: &'static str, bytes: u64) {
        self.quarantine_entries
            .get_or_create(&[("protocol", protocol)])
            .inc();
        self.quarantine_bytes
            .get_or_create(&[("protocol", protocol)])
            .inc_by(bytes);
    }

    pub fn abuse_hit(&self, kind: &'static str, scope: &'static str) {
        self.abuse_hits
            .get_or_create(&[("kind", kind), ("scope", scope)])
            .inc();
    }

    pub fn lockout_started(&self, scope: &'static str) {
        self.lockouts.get_or_create(&[("scope", scope)]).inc();
    }

    pub fn connect_failed(&self, protocol: &'static str) {
        self.connect_failures
            .get_or_create(&[("protocol", protocol)])
            .inc();
    }

    /// A failed TLS handshake on `leg` ("client" or "server").
    pub fn tls_failed(&self, protocol: &'static str, leg: &'static str) {
        self.tls_failures
            .get_or_create(&[("protocol", protocol), ("leg", leg)])
            .inc();
    }

    pub fn reload(&self, applied: bool) {
        let result = if applied { "applied" } else { "refused" };
        self.reloads.get_or_create(&[("result", result)]).inc();
    }

    pub fn killed(&self, trigger: &'static str, n: u64) {
        self.sessions_killed
            .get_or_create(&[("trigger", trigger)])
            .inc_by(n);
    }

    /// Counts one held message and its bytes until the returned guard is dropped.
    pub fn hold(&self) -> Held {
        self.held_messages.inc();
        Held {
            bytes: self.held_bytes.clone(),
            messages: self.held_messages.clone(),
            n: 0,
        }
    }
}

/// Bytes a session carried, per leg and direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relayed {
    pub client_in: u64,
    pub client_out: u64,
    pub server_in: u64,
    pub server_out: u64,
}

/// What the per-message log line says, for the counters.
pub struct MessageFacts<'a> {
    pub protocol: &'static str,
    /// "download" or "submission".
    pub direction: &'static str,
    /// None when the message was refused before any scan.
    pub verdict: Option<&'a Verdict>,
    /// What was done: pass, tag, replace, reject, tempfail, discard, refused.
    pub action: &'static str,
    pub size: u64,
    pub scan: Option<Duration>,
}

/// One held message's share of the held gauges, given back when dropped.
pub struct Held {
    bytes: Gauge<i64, AtomicI64>,
    messages: Gauge<i64, AtomicI64>,
    n: i64,
}

impl Held {
    /// `n` more bytes are held.
    pub fn add(&mut self, n: u64) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.n = self.n.saturating_add(n);
        self.bytes.inc_by(n);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.bytes.dec_by(self.n);
        self.messages.dec();
    }
}

#[cfg(test)]
mod tests;
