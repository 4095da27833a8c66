//! `portcullis sessions list` with filters: each session file is summarised from its
//! lines (start, login, message, end) and kept when every given filter matches.
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use serde::Serialize;

#[derive(clap::Args, Default)]
pub struct ListArgs {
    /// Only sessions that logged in as this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only sessions from this client: an address (any port) or address:port.
    #[arg(long)]
    pub client: Option<String>,
    /// Only sessions to this server: an address (any port) or address:port.
    #[arg(long)]
    pub server: Option<String>,
    /// Only sessions with at least one message of this verdict.
    #[arg(long, value_parser = ["clean", "spam", "infected", "unscannable", "failed"])]
    pub verdict: Option<String>,
    /// Only sessions still open at or after this time: RFC 3339 (2026-11-22T19:00:00Z) or an age (2h, 3days).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<SystemTime>,
    /// Only sessions that started at or before this time (same forms as --since).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<SystemTime>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// RFC 3339 (`2026-11-22T19:00:00Z`, or without zone, read as UTC) or an age before now.
pub fn parse_time(s: &str) -> Result<SystemTime, String> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    match humantime::parse_duration(s) {
        Ok(d) => Ok(SystemTime::now()
            .checked_sub(d)
            .unwrap_or(SystemTime::UNIX_EPOCH)),
        Err(_) => Err(format!(
            "{s:?}: give a time like 2026-11-22T19:00:00Z or an age like 2h"
        )),
    }
}

/// What `sessions list` knows about one session.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    pub id: String,
    pub start: String,
    /// None while the session is open (or its process died before the end line).
    pub end: Option<String>,
    pub protocol: String,
    pub client: String,
    pub server: String,
    pub user: Option<String>,
    pub messages: u64,
    /// Messages per verdict kind (clean, spam, infected, unscannable, failed).
    pub verdicts: BTreeMap<String, u64>,
    pub reason: Option<String>,
    #[serde(skip)]
    pub first: String,
    #[serde(skip)]
    pub last: String,
}

/// Longest line read from a session file; a longer one is cut there (the logs are our own).
const MAX_LINE: u64 = 64 * 1024;

/// The `key=value` pairs of a log line's text; values may be double-quoted.
pub fn fields(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key_start = rest[..eq].rfind(' ').map_or(0, |i| i + 1);
        let key = &rest[key_start..eq];
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match closing_quote(q) {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.push((key, value));
        rest = next;
    }
    out
}

/// The first `"` not escaped by a backslash (values written with `{:?}` escape theirs).
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// The verdict word of a `verdict="..."` value as the session logs write it.
pub fn verdict_kind(v: &str) -> &str {
    match v.split(' ').next().unwrap_or("") {
        "scan" => "failed",
        w => w,
    }
}

impl Summary {
    /// Takes one line `<time> <event> <text>`.
    pub fn line(&mut self, line: &str) {
        let mut parts = line.splitn(3, ' ');
        let (time, event, text) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        if self.first.is_empty() {
            self.first = line.to_string();
            self.start = time.to_string();
        }
        self.last = line.to_string();
        let f = fields(text);
        let get = |k: &str| f.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        match event {
            "start" => {
                self.protocol = get("protocol").unwrap_or("").to_string();
                self.client = get("client").unwrap_or("").to_string();
                self.server = get("server").unwrap_or("").to_string();
            }
            "login" if text.starts_with("ok ") => {
                self.user = get("user").map(str::to_string);
            }
            "message" => {
                if let Some(v) = get("verdict") {
                    self.messages += 1;
                    *self
                        .verdicts
                        .entry(verdict_kind(v).to_string())
                        .or_default() += 1;
                }
            }
            "end" => {
                self.end = Some(time.to_string());
                self.reason = get("reason").map(str::to_string);
                if let Some(u) = get("user").filter(|u| *u != "-") {
                    self.user = Some(u.to_string());
                }
            }
            _ => {}
        }
    }

    pub fn read(id: &str, r: impl Read) -> io::Result<Summary> {
        let mut s = Summary {
            id: id.to_string(),
            ..Summary::default()
        };
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = (&mut r).take(MAX_LINE).read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            if buf.last() != Some(&b'\n') && n as u64 == MAX_LINE {
                // Skip the rest of an over-long line.
                r.skip_until(b'\n')?;
            }
            let line = String::from_utf8_lossy(&buf);
            s.line(line.trim_end_matches(['\r', '\n']));
        }
        Ok(s)
    }
}

/// `addr` or `addr:port` against a logged `addr:port` (IPv6 as `[addr]:port`).
fn addr_matches(logged: &str, want: &str) -> bool {
    if logged == want {
        return true;
    }
    let host = logged.rsplit_once(':').map_or(logged, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == want.trim_start_matches('[').trim_end_matches(']')
}

fn time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

impl ListArgs {
    pub fn matches(&self, s: &Summary, now: SystemTime) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        let near = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| addr_matches(have, w))
        };
        let started = time(&s.start);
        let ended = s.end.as_deref().and_then(time).unwrap_or(now);
        eq(&self.user, s.user.as_deref())
            && near(&self.client, &s.client)
            && near(&self.server, &s.server)
            && self
                .verdict
                .as_deref()
                .is_none_or(|v| s.verdicts.get(v).is_some_and(|n| *n > 0))
            && self.since.is_none_or(|t| ended >= t)
            && self.until.is_none_or(|t| started.is_some_and(|st| st <= t))
    }
}

pub fn summaries(dir: &Path) -> io::Result<Vec<Summary>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().and_then(|e| e.to_str()) != Some("log") {
            continue;
        }
        let id = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        out.push(Summary::read(id, File::open(&p)?)?);
    }
    out.sort_by(|a, b| a.first.cmp(&b.first));
    Ok(out)
}

pub fn list(dir: &Path, args: &ListArgs) -> ExitCode {
    let all = match summaries(dir) {
        Ok(a) => a,
        // A fresh install: the proxy creates the directory with its first session.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            eprintln!(
                "{}: no sessions yet (the directory does not exist)",
                dir.display()
            );
            Vec::new()
        }
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let now = SystemTime::now() + Duration::from_secs(1);
    for s in all.iter().filter(|s| args.matches(s, now)) {
        if args.json {
            println!("{}", serde_json::to_string(s).unwrap_or_default());
        } else {
            println!("{}\n    {}\n    {}", s.id, s.first, s.last);
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests;
