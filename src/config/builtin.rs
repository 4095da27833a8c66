//! `[scan.builtin]`: the built-in engine's signatures, blocked names and decoding limits.
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use super::error::at_least_one;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Builtin {
    /// Directory of ClamAV-format `.hdb`/`.hsb` hash files and `.ndb` body patterns; empty = none.
    pub signature_dir: Option<PathBuf>,
    /// Attachment names whose last extension is listed here are blocked.
    pub blocked_extensions: Vec<String>,
    /// Extra regular expressions matched against attachment and archive member names.
    pub blocked_name_patterns: Vec<String>,
    /// Look inside zip archives for signatures and blocked names.
    pub scan_archives: bool,
    pub max_parts: usize,
    pub max_depth: usize,
    pub max_archive_depth: usize,
    pub max_archive_entries: usize,
    /// Total bytes decoded out of one message (parts and archive members), a zip-bomb guard.
    pub max_decoded_bytes: u64,
    /// A `message/partial` fragment cannot be judged alone: `unscannable` unless false.
    pub partial_unscannable: bool,
    /// Bytes decoded out of one archive and the archives inside it.
    pub max_archive_bytes: u64,
    /// Decoded bytes per compressed byte allowed for an archive member above 1 MiB.
    pub max_archive_ratio: u64,
    /// What a container that cannot be opened (7z, rar, cab, encrypted member...) makes of
    /// the message.
    pub unopenable_archives: UnopenableArchive,
    /// Header bytes of a message and all its parts, checked before the MIME parser runs.
    pub max_header_bytes: usize,
    /// Largest message mail-parser's reading is run on: it holds every decoded part of the
    /// message at once (text parts as UTF-8, up to three times their size). Larger
    /// messages are read by the engine's own readings only, which keep their memory
    /// bounded (the loose MIME reading, the encoded runs, the raw bytes).
    pub max_parser_bytes: usize,
    /// A decoded part larger than this is written to an unlinked file in
    /// `general.spool_dir` and scanned through a mapping instead of held on the heap.
    pub decoded_memory_bytes: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnopenableArchive {
    /// The message gets the `unscannable` verdict.
    Unscannable,
    /// The container is taken as it is; the rest of the message is still scanned.
    Pass,
}

impl Default for Builtin {
    fn default() -> Self {
        Builtin {
            signature_dir: None,
            blocked_extensions: [
                "exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh",
                "hta", "cpl", "msi", "msp", "lnk", "ps1", "jar", "reg", "iso", "img",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            blocked_name_patterns: Vec::new(),
            scan_archives: true,
            max_parts: 500,
            max_depth: 10,
            max_archive_depth: 3,
            max_archive_entries: 1000,
            max_decoded_bytes: 200 * 1024 * 1024,
            partial_unscannable: true,
            max_archive_bytes: 64 * 1024 * 1024,
            max_archive_ratio: 200,
            unopenable_archives: UnopenableArchive::Unscannable,
            max_header_bytes: 256 * 1024,
            max_parser_bytes: 8 * 1024 * 1024,
            decoded_memory_bytes: 1024 * 1024,
        }
    }
}

impl Builtin {
    /// Whether `signature_dir` exists is a file check (`Config::check_files`), not this.
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        at_least_one(errors, "scan.builtin.max_parts", self.max_parts as u64);
        at_least_one(errors, "scan.builtin.max_depth", self.max_depth as u64);
        at_least_one(
            errors,
            "scan.builtin.max_archive_bytes",
            self.max_archive_bytes,
        );
        at_least_one(
            errors,
            "scan.builtin.max_archive_ratio",
            self.max_archive_ratio,
        );
        at_least_one(
            errors,
            "scan.builtin.max_header_bytes",
            self.max_header_bytes as u64,
        );
        for (i, p) in self.blocked_name_patterns.iter().enumerate() {
            if let Err(e) = regex::Regex::new(p) {
                errors.push(ConfigError::new(
                    format!("scan.builtin.blocked_name_patterns[{i}]"),
                    format!("{p:?}"),
                    format!("not a valid regular expression: {e}"),
                ));
            }
        }
        for (i, ext) in self.blocked_extensions.iter().enumerate() {
            if ext.is_empty() || ext.contains('.') || ext.contains('/') {
                errors.push(ConfigError::new(
                    format!("scan.builtin.blocked_extensions[{i}]"),
                    format!("{ext:?}"),
                    "give the extension without a dot, for example \"exe\"",
                ));
            }
        }
        if let Some(dir) = &self.signature_dir
            && dir.as_os_str().is_empty()
        {
            errors.push(ConfigError::new(
                "scan.builtin.signature_dir",
                "\"\"",
                "give the path of a directory (or remove the key)",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(b: &Builtin) -> Vec<ConfigError> {
        let mut e = Vec::new();
        b.validate(&mut e);
        e
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(errors(&Builtin::default()), vec![]);
    }

    #[test]
    fn zero_parts_and_depth_are_refused() {
        let b = Builtin {
            max_parts: 0,
            max_depth: 0,
            ..Builtin::default()
        };
        let k: Vec<String> = errors(&b).into_iter().map(|e| e.key).collect();
        assert_eq!(k, vec!["scan.builtin.max_parts", "scan.builtin.max_depth"]);
    }

    #[test]
    fn patterns_and_extensions_are_checked() {
        let b = Builtin {
            blocked_name_patterns: vec!["^ok$".into(), "(unclosed".into()],
            blocked_extensions: vec!["exe".into(), ".scr".into(), "".into()],
            ..Builtin::default()
        };
        let e = errors(&b);
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(e[0].key, "scan.builtin.blocked_name_patterns[1]");
        assert_eq!(e[0].value, "\"(unclosed\"");
        assert!(e[0].fix.contains("regular expression"), "{e:?}");
        assert_eq!(e[1].key, "scan.builtin.blocked_extensions[1]");
        assert_eq!(e[1].value, "\".scr\"");
        assert!(e[1].fix.contains("without a dot"), "{e:?}");
        assert_eq!(e[2].key, "scan.builtin.blocked_extensions[2]");
    }

    #[test]
    fn a_missing_signature_dir_is_not_a_parse_error() {
        let b = Builtin {
            signature_dir: Some("/nonexistent/portcullis/signatures".into()),
            ..Builtin::default()
        };
        assert_eq!(errors(&b), vec![]);
    }
}
