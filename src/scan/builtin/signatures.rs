//! Signature databases for the builtin engine: the EICAR and GTUBE test strings, plus
//! ClamAV-format files an admin drops in a directory (`.hdb` MD5, `.hsb` SHA-256 hashes of
//! whole files or decoded parts, `.ndb` hex body patterns with `*` offset).
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use md5::{Digest as _, Md5};
use sha2::Sha256;

pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
pub const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Virus,
    Spam,
}

/// A signature file line that could not be used; names the file and the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigError {
    pub file: String,
    pub line: usize,
    pub why: String,
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.why)
    }
}

/// Up to this many body patterns are searched one by one with `memmem` (which picks rare
/// bytes to look for) instead of one automaton keyed on the patterns' first bytes.
const FEW_PATTERNS: usize = 4;

#[derive(Debug)]
pub struct Signatures {
    patterns: AhoCorasick,
    /// One finder per pattern, in `pattern_info` order, when there are few patterns.
    finders: Vec<memchr::memmem::Finder<'static>>,
    pattern_info: Vec<(String, Kind)>,
    md5: HashMap<(u64, [u8; 16]), String>,
    md5_any_size: HashMap<[u8; 16], String>,
    sha256: HashMap<(u64, [u8; 32]), String>,
    hash_sizes: HashSet<u64>,
}

impl Signatures {
    /// The built-in test signatures plus whatever `dir` holds.
    pub fn load(dir: Option<&Path>) -> Result<Signatures, SigError> {
        let mut pats: Vec<Vec<u8>> = vec![EICAR.to_vec()];
        let mut info = vec![("Eicar-Test-Signature".to_string(), Kind::Virus)];
        let mut md5 = HashMap::new();
        let mut md5_any_size = HashMap::new();
        let mut sha256 = HashMap::new();
        if let Some(dir) = dir {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .map_err(|e| SigError {
                    file: dir.display().to_string(),
                    line: 0,
                    why: e.to_string(),
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for path in entries {
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                if !matches!(ext, "hdb" | "hsb" | "ndb") {
                    continue;
                }
                let file = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|e| SigError {
                    file: file.clone(),
                    line: 0,
                    why: e.to_string(),
                })?;
                for (i, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let err = |why: &str| SigError {
                        file: file.clone(),
                        line: i + 1,
                        why: why.to_string(),
                    };
                    let f: Vec<&str> = line.split(':').collect();
                    match ext {
                        "hdb" | "hsb" => {
                            if f.len() < 3 {
                                return Err(err("expected HASH:SIZE:NAME"));
                            }
                            let hash = hex(f[0]).ok_or_else(|| err("hash is not hex"))?;
                            let name = f[2].to_string();
                            match (ext, hash.len(), f[1]) {
                                ("hdb", 16, "*") => {
                                    md5_any_size.insert(hash.try_into().expect("16"), name);
                                }
                                ("hdb", 16, size) => {
                                    let size =
                                        size.parse().map_err(|_| err("size is not a number"))?;
                                    md5.insert((size, hash.try_into().expect("16")), name);
                                }
                                ("hsb", 32, size) => {
                                    let size = size.parse().map_err(|_| {
                                        err("size is not a number (hsb needs a size)")
                                    })?;
                                    sha256.insert((size, hash.try_into().expect("32")), name);
                                }
                                _ => {
                                    return Err(err(
                                        "hash length does not match the file type (.hdb MD5, .hsb SHA-256)",
                                    ));
                                }
                            }
                        }
                        _ => {
                            if f.len() < 4 {
                                return Err(err("expected NAME:TARGET:OFFSET:HEXSIG"));
                            }
                            if !matches!(f[1], "0" | "*") || f[2] != "*" {
                                return Err(err("only target 0 and offset * are supported"));
                            }
                            let bytes = hex(f[3])
                                .ok_or_else(|| err("signature must be plain hex (no wildcards)"))?;
                            if bytes.len() < 4 {
                                return Err(err("signature shorter than 4 bytes"));
                            }
                            pats.push(bytes);
                            info.push((f[0].to_string(), Kind::Virus));
                        }
                    }
                }
            }
        }
        // Spam patterns go last: at one start position leftmost-first prefers the earlier
        // pattern, so a virus pattern sharing a start with a spam pattern still wins.
        pats.push(GTUBE.to_vec());
        info.push(("GTUBE".to_string(), Kind::Spam));
        let patterns = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&pats)
            .map_err(|e| SigError {
                file: "(patterns)".into(),
                line: 0,
                why: e.to_string(),
            })?;
        let hash_sizes = md5
            .keys()
            .map(|k| k.0)
            .chain(sha256.keys().map(|k| k.0))
            .collect();
        let finders = if pats.len() <= FEW_PATTERNS {
            pats.iter()
                .map(|p| memchr::memmem::Finder::new(p).into_owned())
                .collect()
        } else {
            Vec::new()
        };
        Ok(Signatures {
            patterns,
            finders,
            pattern_info: info,
            md5,
            md5_any_size,
            sha256,
            hash_sizes,
        })
    }

    /// The first virus pattern in `data`, else whether a spam pattern was seen. A spam
    /// match never hides a virus pattern that overlaps it: the search goes on from the
    /// byte after the spam match's start, not from its end.
    pub fn find(&self, data: &[u8]) -> Option<(&str, Kind)> {
        if !self.finders.is_empty() {
            return self.find_few(data);
        }
        let mut spam = None;
        let mut at = 0;
        while at <= data.len() {
            let Some(m) = self.patterns.find(Input::new(data).span(at..data.len())) else {
                break;
            };
            let (name, kind) = &self.pattern_info[m.pattern().as_usize()];
            match kind {
                Kind::Virus => return Some((name, *kind)),
                Kind::Spam => spam = spam.or(Some((name.as_str(), *kind))),
            }
            at = m.start() + 1;
        }
        spam
    }

    /// Each pattern searched on its own: virus patterns first (they come first), so no
    /// match can hide another.
    fn find_few(&self, data: &[u8]) -> Option<(&str, Kind)> {
        self.finders
            .iter()
            .zip(&self.pattern_info)
            .find(|(f, _)| f.find(data).is_some())
            .map(|(_, (name, kind))| (name.as_str(), *kind))
    }

    /// A hash signature matching the whole of `data`. Hashes are computed only when a
    /// signature of that exact size exists, so clean mail costs nothing here.
    pub fn hash_match(&self, data: &[u8]) -> Option<&str> {
        let size = data.len() as u64;
        if !self.md5_any_size.is_empty() || self.hash_sizes.contains(&size) {
            let m: [u8; 16] = Md5::digest(data).into();
            if let Some(n) = self
                .md5
                .get(&(size, m))
                .or_else(|| self.md5_any_size.get(&m))
            {
                return Some(n);
            }
            if self.hash_sizes.contains(&size) {
                let s: [u8; 32] = Sha256::digest(data).into();
                if let Some(n) = self.sha256.get(&(size, s)) {
                    return Some(n);
                }
            }
        }
        None
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_test_strings() {
        let s = Signatures::load(None).unwrap();
        let mut body = b"hello ".to_vec();
        body.extend_from_slice(EICAR);
        assert_eq!(s.find(&body), Some(("Eicar-Test-Signature", Kind::Virus)));
        assert_eq!(s.find(GTUBE), Some(("GTUBE", Kind::Spam)));
        assert_eq!(s.find(b"nothing here"), None);
    }

    #[test]
    fn a_spam_pattern_never_hides_an_overlapping_virus() {
        let s = Signatures::load(None).unwrap();
        // GTUBE's last byte is EICAR's first.
        let mut body = GTUBE.to_vec();
        body.extend_from_slice(&EICAR[1..]);
        assert_eq!(s.find(&body), Some(("Eicar-Test-Signature", Kind::Virus)));
        let mut twice = GTUBE.to_vec();
        twice.extend_from_slice(GTUBE);
        assert_eq!(s.find(&twice), Some(("GTUBE", Kind::Spam)));
    }

    #[test]
    fn a_virus_pattern_sharing_a_start_with_spam_wins() {
        let dir = tempfile::tempdir().unwrap();
        let prefix: String = GTUBE[..8].iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            dir.path().join("p.ndb"),
            format!("Test.Prefix:0:*:{prefix}\n"),
        )
        .unwrap();
        let s = Signatures::load(Some(dir.path())).unwrap();
        assert_eq!(s.find(GTUBE), Some(("Test.Prefix", Kind::Virus)));
        // The same with enough patterns for the automaton rather than one search each.
        std::fs::write(
            dir.path().join("q.ndb"),
            "A:0:*:41414141\nB:0:*:42424242\nC:0:*:43434343\n",
        )
        .unwrap();
        let s = Signatures::load(Some(dir.path())).unwrap();
        assert!(s.finders.is_empty());
        assert_eq!(s.find(GTUBE), Some(("Test.Prefix", Kind::Virus)));
        let mut body = GTUBE.to_vec();
        body.extend_from_slice(&EICAR[1..]);
        assert_eq!(
            s.find(&body[1..]),
            Some(("Eicar-Test-Signature", Kind::Virus))
        );
    }

    #[test]
    fn loads_clamav_format_files() {
        let dir = tempfile::tempdir().unwrap();
        let md5 = format!("{:x}", Md5::digest(b"evil payload"));
        let sha = format!("{:x}", Sha256::digest(b"other payload"));
        std::fs::write(dir.path().join("a.hdb"), format!("{md5}:12:Test.Md5\n")).unwrap();
        std::fs::write(dir.path().join("b.hsb"), format!("{sha}:13:Test.Sha\n")).unwrap();
        std::fs::write(
            dir.path().join("c.ndb"),
            "# comment\nTest.Marker:0:*:4d41524b4552\n",
        )
        .unwrap();
        let s = Signatures::load(Some(dir.path())).unwrap();
        assert_eq!(s.hash_match(b"evil payload"), Some("Test.Md5"));
        assert_eq!(s.hash_match(b"other payload"), Some("Test.Sha"));
        assert_eq!(s.hash_match(b"evil payloaD"), None);
        assert_eq!(s.find(b"xxMARKERxx"), Some(("Test.Marker", Kind::Virus)));
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.ndb"), "ok:0:*:41414141\nbad:0:*:zz\n").unwrap();
        let e = Signatures::load(Some(dir.path())).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.file.ends_with("x.ndb"));
    }
}
