//! The embedded engine: needs no daemon. Looks for signatures in the raw message and in
//! every decoded part and archive member, and applies the attachment policy.
mod archive;
mod inspect;
pub mod signatures;

use std::ops::Range;

use regex::Regex;

use crate::config::Builtin as Cfg;
use crate::message::mime::{self, PartView};
use crate::message::precheck;
use crate::message::spill::Spill;
use crate::scan::Verdict;
use signatures::{Kind, SigError, Signatures};

/// Score reported for a GTUBE hit (SpamAssassin uses 1000).
const GTUBE_SCORE: f64 = 1000.0;

#[derive(Debug)]
pub struct BuiltinEngine {
    sigs: Signatures,
    blocked_ext: Vec<String>,
    name_res: Vec<Regex>,
    cfg: Cfg,
    /// Where decoded parts larger than `decoded_memory_bytes` are scanned from.
    spill: Spill,
}

/// What the walk found so far; the worst finding wins.
#[derive(Default)]
struct Findings {
    infected: Option<String>,
    /// The engine could not finish (a spill file could not be written).
    failed: Option<String>,
    unscannable: Option<String>,
    spam: bool,
}

impl BuiltinEngine {
    pub fn new(cfg: &Cfg) -> Result<Self, SigError> {
        Ok(BuiltinEngine {
            sigs: Signatures::load(cfg.signature_dir.as_deref())?,
            blocked_ext: cfg
                .blocked_extensions
                .iter()
                .map(|e| e.to_ascii_lowercase())
                .collect(),
            name_res: cfg
                .blocked_name_patterns
                .iter()
                .filter_map(|p| Regex::new(p).ok())
                .collect(),
            cfg: cfg.clone(),
            spill: Spill {
                dir: std::env::temp_dir(),
                mem_limit: cfg.decoded_memory_bytes,
            },
        })
    }

    /// Large decoded parts go to unlinked files in `dir` (the spool directory) rather
    /// than the system's temporary directory.
    pub fn spilling_to(mut self, dir: &std::path::Path) -> Self {
        self.spill.dir = dir.to_path_buf();
        self
    }

    /// CPU-bound; callers run it off the async reactor.
    pub fn scan(&self, raw: &[u8]) -> Verdict {
        let mut f = Findings::default();
        let mut budget = self.cfg.max_decoded_bytes;
        self.inspect(raw, 0, &mut f, &mut budget);
        if let Some(name) = f.infected {
            Verdict::Infected { name }
        } else if let Some(why) = f.failed {
            Verdict::Failed {
                scanner: "builtin".into(),
                why,
            }
        } else if let Some(why) = f.unscannable {
            Verdict::Unscannable { why }
        } else if f.spam {
            Verdict::Spam {
                score: GTUBE_SCORE,
                threshold: 5.0,
            }
        } else {
            Verdict::Clean
        }
    }

    /// mail-parser's reading: one opinion on the structure among several. Returns the raw
    /// spans it decoded as exact base64, for the other readings not to decode again.
    fn walk_reading(&self, raw: &[u8], f: &mut Findings, budget: &mut u64) -> Vec<Range<usize>> {
        let limits = mime::Limits {
            max_parts: self.cfg.max_parts,
            max_depth: self.cfg.max_depth,
            max_decoded_bytes: self.cfg.max_decoded_bytes,
        };
        let mut exact = Vec::new();
        let walked = mime::walk(raw, limits, &mut |p: &PartView| {
            self.check_part(p, f, budget);
            if p.content_type.eq_ignore_ascii_case("message/partial") {
                self.partial(f);
            }
            if p.exact_base64
                && let Some(s) = &p.span
            {
                exact.push(s.clone());
            }
            f.infected.is_none()
        });
        if let Err(problem) = walked {
            f.unscannable.get_or_insert_with(|| problem.to_string());
        }
        exact
    }

    fn check_data(&self, data: &[u8], f: &mut Findings) {
        match self.sigs.find(data) {
            Some((name, Kind::Virus)) => f.infected = Some(name.to_string()),
            Some((_, Kind::Spam)) => f.spam = true,
            None => {}
        }
        if f.infected.is_none()
            && let Some(name) = self.sigs.hash_match(data)
        {
            f.infected = Some(name.to_string());
        }
    }

    /// A part: its names, its bytes (read again as a message or text when decoded, else
    /// only hashed: the raw scan saw them), executable content, archives.
    fn check_part(&self, p: &PartView, f: &mut Findings, budget: &mut u64) {
        self.check_names(
            p.name.into_iter().chain(p.names.iter().map(|n| n.as_str())),
            f,
        );
        if f.infected.is_some() {
            return;
        }
        if p.decoded {
            self.inspect(p.data, p.depth + 1, f, budget);
        } else if let Some(name) = self.sigs.hash_match(p.data) {
            f.infected = Some(name.to_string());
        }
        let named = p.name.is_some() || !p.names.is_empty();
        if f.infected.is_none()
            && self.is_executable(p.data)
            && (named || !p.content_type.starts_with("text/") || binary_head(p.data))
        {
            f.infected = Some("Portcullis.Blocked.ExecutableContent".into());
        }
        if f.infected.is_none()
            && self.cfg.scan_archives
            && let Some(kind) = archive::detect(p.data)
        {
            self.check_archive(kind, p.data, f, budget);
        }
    }

    fn precheck_limits(&self) -> precheck::Limits {
        precheck::Limits {
            max_parts: self.cfg.max_parts,
            max_header_bytes: self.cfg.max_header_bytes,
        }
    }

    fn check_names<'n>(&self, names: impl Iterator<Item = &'n str>, f: &mut Findings) {
        for n in names {
            if let Some(why) = self.blocked_name(n) {
                f.infected = Some(why);
                return;
            }
        }
    }

    fn partial(&self, f: &mut Findings) {
        if self.cfg.partial_unscannable {
            f.unscannable
                .get_or_insert_with(|| "message/partial fragment".into());
        }
    }

    fn blocked_name(&self, name: &str) -> Option<String> {
        inspect::name_variants(name).find_map(|n| self.blocked_one_name(&n))
    }

    fn blocked_one_name(&self, name: &str) -> Option<String> {
        let lower = name
            .trim()
            .trim_end_matches(['.', ' '])
            .to_ascii_lowercase();
        let base = lower.rsplit(['/', '\\']).next().unwrap_or(&lower);
        if let Some((_, ext)) = base.rsplit_once('.')
            && self.blocked_ext.iter().any(|b| b == ext)
        {
            let double = base.matches('.').count() > 1;
            let what = if double {
                "DoubleExtension"
            } else {
                "Extension"
            };
            return Some(format!("Portcullis.Blocked.{what}.{ext}"));
        }
        if self.name_res.iter().any(|r| r.is_match(name)) {
            return Some("Portcullis.Blocked.Name".into());
        }
        None
    }

    fn is_executable(&self, data: &[u8]) -> bool {
        !self.blocked_ext.is_empty() && (data.starts_with(b"MZ") || data.starts_with(b"\x7fELF"))
    }
}

/// Whether the first bytes look like a binary file, not text that happens to start "MZ".
fn binary_head(data: &[u8]) -> bool {
    data.iter()
        .take(64)
        .any(|&c| c == 0 || (c < 0x20 && !matches!(c, b'\t' | b'\r' | b'\n' | 0x0c)))
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod evasion_names_tests;
#[cfg(test)]
mod evasion_tests;
#[cfg(test)]
mod speed_tests;
#[cfg(test)]
mod stress_tests;
#[cfg(test)]
mod tests;
