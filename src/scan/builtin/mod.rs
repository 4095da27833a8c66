//! The embedded engine: needs no daemon. Looks for signatures in the raw message and in
//! every decoded part and archive member, and applies the attachment policy.
mod archive;
pub mod signatures;

use regex::Regex;

use crate::config::Builtin as Cfg;
use crate::message::mime::{self, PartView};
use crate::message::precheck;
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
}

/// What the walk found so far; the worst finding wins.
#[derive(Default)]
struct Findings {
    infected: Option<String>,
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
        })
    }

    /// CPU-bound; callers run it off the async reactor.
    pub fn scan(&self, raw: &[u8]) -> Verdict {
        let mut f = Findings::default();
        self.check_data(raw, &mut f);
        if f.infected.is_none() && mime::is_plain_single_part(raw) {
            // Nothing to decode but uuencoded blocks: skip the MIME parser.
            for (name, data) in mime::uudecode_all(raw) {
                let mut budget = self.cfg.max_decoded_bytes;
                let part = PartView {
                    name: Some(&name),
                    content_type: "application/octet-stream",
                    data: &data,
                    depth: 1,
                };
                self.check_part(&part, &mut f, &mut budget);
                if f.infected.is_some() {
                    break;
                }
            }
        } else if f.infected.is_none()
            && let Err(p) = precheck::check(raw, self.precheck_limits())
        {
            f.unscannable = Some(p.to_string());
        } else if f.infected.is_none() {
            let limits = mime::Limits {
                max_parts: self.cfg.max_parts,
                max_depth: self.cfg.max_depth,
                max_decoded_bytes: self.cfg.max_decoded_bytes,
            };
            let mut budget = self.cfg.max_decoded_bytes;
            let walked = mime::walk(raw, limits, &mut |p: &PartView| {
                self.check_part(p, &mut f, &mut budget);
                f.infected.is_none()
            });
            if let Err(problem) = walked {
                f.unscannable.get_or_insert_with(|| problem.to_string());
            }
        }
        if let Some(name) = f.infected {
            Verdict::Infected { name }
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

    fn check_part(&self, p: &PartView, f: &mut Findings, budget: &mut u64) {
        if let Some(name) = p.name
            && let Some(why) = self.blocked_name(name)
        {
            f.infected = Some(why);
            return;
        }
        self.check_data(p.data, f);
        if f.infected.is_none() && self.is_executable(p.data) && p.name.is_some() {
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

    fn blocked_name(&self, name: &str) -> Option<String> {
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

#[cfg(test)]
mod tests;
