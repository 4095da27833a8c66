//! Per-session records for admins: every event goes both to tracing (inside the session's
//! span, so JSON logs carry the session id) and to one readable file per session, which
//! `portcullis sessions` lists and shows.
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::ids::SessionId;

pub struct SessionLog {
    file: Option<File>,
}

impl SessionLog {
    /// Opens `<dir>/<id>.log`. A log directory that cannot be written does not stop mail:
    /// the failure is reported once through tracing and events still reach the JSON log.
    pub fn open(dir: &Path, id: &SessionId) -> SessionLog {
        let path = dir.join(format!("{id}.log"));
        let file = OpenOptions::new().create(true).append(true).open(&path);
        match file {
            Ok(f) => SessionLog { file: Some(f) },
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot write session log file");
                SessionLog { file: None }
            }
        }
    }

    /// One line: `<time> <event> <text>`.
    pub fn event(&mut self, event: &str, text: &str) {
        tracing::info!(event, "{text}");
        if let Some(f) = self.file.as_mut() {
            let line = format!(
                "{} {event} {text}\n",
                humantime::format_rfc3339_millis(SystemTime::now())
            );
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::warn!(error = %e, "session log write failed");
                self.file = None;
            }
        }
    }
}

/// A session file found on disk, for `portcullis sessions list`.
#[derive(Debug, Clone)]
pub struct SessionFile {
    pub id: String,
    pub path: PathBuf,
    pub first: String,
    pub last: String,
}

pub fn list(dir: &Path) -> io::Result<Vec<SessionFile>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().and_then(|e| e.to_str()) != Some("log") {
            continue;
        }
        let id = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let lines: Vec<String> = BufReader::new(File::open(&p)?)
            .lines()
            .collect::<Result<_, _>>()?;
        out.push(SessionFile {
            id,
            path: p,
            first: lines.first().cloned().unwrap_or_default(),
            last: lines.last().cloned().unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| a.first.cmp(&b.first));
    Ok(out)
}

pub fn read(dir: &Path, id: &SessionId) -> io::Result<String> {
    fs::read_to_string(dir.join(format!("{id}.log")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let id = SessionId::new();
        let mut log = SessionLog::open(dir.path(), &id);
        log.event("start", "client=198.18.0.2:5000");
        log.event("end", "reason=quit");
        let files = list(dir.path()).unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].first.contains("start client=198.18.0.2:5000"));
        assert!(files[0].last.contains("end reason=quit"));
        assert!(read(dir.path(), &id).unwrap().lines().count() == 2);
    }
}
