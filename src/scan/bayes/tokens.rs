//! Turns a message into the tokens the classifier counts: what a reader sees and what a
//! spammer cannot cheaply vary. Selected headers (Subject, From and its domain, Reply-To,
//! Received hosts, Content-Type, X-Mailer, Message-ID domain, the header names present),
//! the decoded text of every text part with HTML reduced to text, link hosts, the types of
//! attachments, and every word alone and paired with the next word (the bigram window
//! SpamAssassin and CRM114-style OSB filters count). Each distinct token counts once per
//! message, and a message yields at most `cap` of them: headers first, then links, then text.
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::xxh3_64;

use super::html;
use crate::message::mime::{self, Limits, PartView};
use crate::message::rewrite::split_header;

/// Token hashes are xxh3 already: the set of seen ones needs no second hash.
#[derive(Debug, Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The distinct tokens of one message: their hashes and, for the session log, their text.
#[derive(Debug, Default)]
pub struct Tokens {
    arena: String,
    items: Vec<(u64, u32, u32)>,
    seen: HashSet<u64, BuildHasherDefault<Identity>>,
    cap: usize,
    /// Words still to be read from text; bounds the work on text that repeats itself.
    budget: usize,
}

/// Header bytes read for tokens.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Words longer than this become a "sk:" token of their first characters (as SpamAssassin).
const MAX_WORD_CHARS: usize = 20;
/// Bytes of one text part that are read for tokens, as SpamAssassin's
/// `body_part_scan_size`: what decides a message is in its first pages, and a long part
/// costs no more memory or time than this.
pub const MAX_PART_TEXT: usize = 50_000;
/// Received headers read, from the top (the hops nearest the reader).
const MAX_RECEIVED: usize = 4;

impl Tokens {
    fn new(cap: usize) -> Tokens {
        let expect = cap.min(4096);
        Tokens {
            cap,
            budget: cap.saturating_mul(8),
            arena: String::with_capacity(expect * 12),
            items: Vec::with_capacity(expect),
            seen: HashSet::with_capacity_and_hasher(expect, BuildHasherDefault::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.items.iter().map(|t| t.0)
    }

    /// The text of the token with this hash (linear: only used for the few logged tokens).
    pub fn text_of(&self, hash: u64) -> Option<&str> {
        let &(_, s, l) = self.items.iter().find(|t| t.0 == hash)?;
        Some(&self.arena[s as usize..(s + l) as usize])
    }

    fn full(&self) -> bool {
        self.items.len() >= self.cap
    }

    /// Adds `prefix` + `parts` joined by a space, lower-cased. False once the cap is reached.
    fn push(&mut self, prefix: &str, parts: &[&str]) -> bool {
        if self.full() {
            return false;
        }
        let start = self.arena.len();
        self.arena.push_str(prefix);
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                self.arena.push(' ');
            }
            if p.is_ascii() {
                let at = self.arena.len();
                self.arena.push_str(p);
                self.arena[at..].make_ascii_lowercase();
            } else {
                for c in p.chars() {
                    self.arena.extend(c.to_lowercase());
                }
            }
        }
        let h = xxh3_64(&self.arena.as_bytes()[start..]);
        if self.seen.insert(h) {
            let len = (self.arena.len() - start) as u32;
            self.items.push((h, start as u32, len));
        } else {
            self.arena.truncate(start);
        }
        true
    }

    /// Words of `text`, alone and paired with the previous word, under `prefix`.
    fn words(&mut self, prefix: &str, text: &str) {
        let mut prev: Option<&str> = None;
        for w in text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '$' | '\'' | '-'))) {
            let w = w.trim_matches(['-', '\'']);
            if w.chars().nth(1).is_none() {
                continue;
            }
            if self.budget == 0 || self.full() {
                return;
            }
            self.budget -= 1;
            if let Some((cut, _)) = w.char_indices().nth(MAX_WORD_CHARS) {
                let head = &w[..w.char_indices().nth(8).map_or(cut, |c| c.0)];
                self.push(&format!("{prefix}sk:"), &[head]);
                prev = None;
                continue;
            }
            self.push(prefix, &[w]);
            if let Some(p) = prev {
                self.push(prefix, &[p, w]);
            }
            prev = Some(w);
        }
    }

    /// Link tokens: the host and its last two labels.
    fn link(&mut self, url: &str) {
        let rest = url
            .split_once("://")
            .map_or(url, |(_, r)| r)
            .trim_start_matches('/');
        let host_end = rest
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | ':' | '"' | '\'' | '>' | '<') || c.is_whitespace()
            })
            .unwrap_or(rest.len());
        let host = rest[..host_end]
            .rsplit('@')
            .next()
            .unwrap_or("")
            .trim_end_matches('.');
        if host.is_empty() {
            return;
        }
        self.push("U:", &[host]);
        let labels: Vec<&str> = host.rsplitn(3, '.').collect();
        if labels.len() == 3 {
            self.push("U:", &[&format!("{}.{}", labels[1], labels[0])]);
        }
    }

    /// Every `http://`, `https://` and `www.` link in plain text.
    fn links_in(&mut self, text: &str) {
        let lower = text.to_ascii_lowercase();
        let mut at: Vec<usize> = Vec::new();
        for p in ["http://", "https://", "www."] {
            at.extend(lower.match_indices(p).map(|m| m.0));
        }
        // "www." right after "http://" gives the same tokens again, which count once.
        at.sort_unstable();
        for i in at {
            self.link(&text[i..]);
            if self.full() {
                return;
            }
        }
    }
}

/// The tokens of `raw`, at most `cap` distinct ones.
pub fn tokenize(raw: &[u8], limits: Limits, cap: usize) -> Tokens {
    let mut t = Tokens::new(cap);
    let head = &raw[..raw.len().min(MAX_HEAD_BYTES)];
    let (body_at, ctype) = headers(&mut t, head);
    if mime::is_plain_single_part(raw) {
        let body = &raw[body_at.unwrap_or(raw.len()).min(raw.len())..];
        text(&mut t, &ctype, &String::from_utf8_lossy(first(body)));
        return t;
    }
    let mut visit = |p: &PartView| {
        if p.content_type.starts_with("text/") {
            text(
                &mut t,
                p.content_type,
                &String::from_utf8_lossy(first(p.data)),
            );
        } else {
            t.push("A:", &[p.content_type]);
            if let Some(ext) = p.name.and_then(|n| n.rsplit_once('.')).map(|x| x.1) {
                t.push("AX:", &[ext]);
            }
        }
        !t.full()
    };
    if let Ok(report) = mime::walk(raw, limits, &mut visit)
        && report.ambiguous.is_some()
    {
        t.push("MIME:", &["ambiguous"]);
    }
    t
}

/// The part of a text body that is read for tokens.
fn first(body: &[u8]) -> &[u8] {
    &body[..body.len().min(MAX_PART_TEXT)]
}

fn text(t: &mut Tokens, content_type: &str, s: &str) {
    if content_type == "text/html" {
        let r = html::reduce(s);
        for l in &r.links {
            t.link(l);
        }
        for tag in &r.tags {
            t.push("H:", &[tag]);
        }
        t.links_in(&r.text);
        t.words("", &r.text);
    } else {
        t.links_in(s);
        t.words("", s);
    }
}

/// Header tokens; returns where the body starts (if the header ends within `head`) and
/// the message's own content type (lower case, `text/plain` when none is given).
fn headers(t: &mut Tokens, head: &[u8]) -> (Option<usize>, String) {
    let mut ctype = String::from("text/plain");
    for (name, value) in mime::header_texts(head) {
        match name.as_str() {
            "subject" => t.words("S:", &value),
            "from" | "reply-to" => {
                let p = if name == "from" { "F" } else { "RT" };
                for addr in value.split(", ") {
                    let (who, mail) = addr.rsplit_once(" <").unwrap_or(("", addr));
                    let mail = mail.trim_end_matches('>');
                    t.push(&format!("{p}:"), &[mail]);
                    if let Some((_, dom)) = mail.rsplit_once('@') {
                        t.push(&format!("{p}@"), &[dom]);
                    }
                    t.words(&format!("{p}N:"), who);
                }
            }
            _ => {}
        }
    }
    let (fields, body_at) = split_header(head).map_or((Vec::new(), None), |(f, b)| (f, Some(b)));
    let mut received = 0;
    for f in &fields {
        let name = String::from_utf8_lossy(f.name).to_ascii_lowercase();
        t.push("HN:", &[&name]);
        let value = String::from_utf8_lossy(f.raw.get(f.name.len() + 1..).unwrap_or_default());
        let value = value.trim();
        match name.as_str() {
            "received" if received < MAX_RECEIVED => {
                received += 1;
                for w in value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                {
                    if w.contains('.') && w.len() >= 4 {
                        t.push("R:", &[w.trim_matches('.')]);
                    }
                }
            }
            "content-type" => {
                let mut params = value.split(';');
                ctype = params.next().unwrap_or("").trim().to_ascii_lowercase();
                t.push("CT:", &[&ctype]);
                for p in params {
                    if let Some((k, v)) = p.trim().split_once('=')
                        && k.trim().eq_ignore_ascii_case("charset")
                    {
                        t.push("CS:", &[v.trim().trim_matches('"')]);
                    }
                }
            }
            "x-mailer" | "user-agent" => t.words("XM:", value),
            "message-id" => {
                if let Some((_, dom)) = value.rsplit_once('@') {
                    t.push("MID:", &[dom.trim_end_matches('>')]);
                }
            }
            _ => {}
        }
    }
    (body_at, ctype)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_parts: 100,
            max_depth: 5,
            max_decoded_bytes: 1 << 20,
        }
    }

    fn texts(raw: &[u8], cap: usize) -> Vec<String> {
        let t = tokenize(raw, limits(), cap);
        t.hashes()
            .map(|h| t.text_of(h).unwrap().to_string())
            .collect()
    }

    #[test]
    fn headers_links_words_and_pairs() {
        let raw = b"From: Cheap Pills <deals@pharma.example>\r\nSubject: =?utf-8?q?Best_price?=\r\nReceived: from mx.spam.example ([198.18.0.9]) by gw.test\r\nX-Mailer: Blaster 5\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\nMessage-ID: <1@pharma.example>\r\n\r\nBuy cheap VIAGRA at http://www.pills.example/buy now\r\n";
        let got = texts(raw, 1000);
        for want in [
            "S:best",
            "S:best price",
            "F:deals@pharma.example",
            "F@pharma.example",
            "FN:pills",
            "R:mx.spam.example",
            "R:198.18.0.9",
            "XM:blaster",
            "CT:text/plain",
            "CS:us-ascii",
            "MID:pharma.example",
            "HN:x-mailer",
            "viagra",
            "cheap viagra",
            "U:www.pills.example",
            "U:pills.example",
        ] {
            assert!(got.iter().any(|g| g == want), "missing {want} in {got:?}");
        }
    }

    #[test]
    fn html_and_base64_parts_are_decoded() {
        let raw = b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+dmk8Yj5hZ3JhPC9iPiA8YSBocmVmPWh0dHA6Ly9ldmlsLmV4YW1wbGUvPmNsaWNrPC9hPjwvcD4=\r\n--b\r\nContent-Type: application/zip; name=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsFBg==\r\n--b--\r\n";
        // base64 of: <p>vi<b>agra</b> <a href=http://evil.example/>click</a></p>
        let got = texts(raw, 1000);
        for want in [
            "viagra",
            "viagra click",
            "U:evil.example",
            "H:a",
            "A:application/zip",
            "AX:zip",
        ] {
            assert!(got.iter().any(|g| g == want), "missing {want} in {got:?}");
        }
    }

    #[test]
    fn the_cap_bounds_distinct_tokens_and_repeats_count_once() {
        let mut raw = b"Subject: x\r\n\r\n".to_vec();
        for i in 0..5000 {
            raw.extend_from_slice(format!("word{i} ").as_bytes());
        }
        assert_eq!(tokenize(&raw, limits(), 300).len(), 300);
        let t = tokenize(b"Subject: hi\r\n\r\nsame same same same\r\n", limits(), 100);
        let n = t.hashes().filter(|h| t.text_of(*h) == Some("same")).count();
        assert_eq!(n, 1);
    }

    #[test]
    fn long_words_become_skip_tokens() {
        let got = texts(
            b"Subject: a\r\n\r\nsupercalifragilisticexpialidocious\r\n",
            100,
        );
        assert!(got.contains(&"sk:supercal".to_string()), "{got:?}");
    }

    /// A text part is read for its first `MAX_PART_TEXT` bytes, in a plain message and in
    /// a MIME part alike: a huge part costs no more than that.
    #[test]
    fn only_the_first_part_of_a_long_text_is_read() {
        let body = |head: &str| {
            let mut b = head.as_bytes().to_vec();
            b.extend_from_slice(b"nearword");
            b.resize(b.len() + MAX_PART_TEXT, b' ');
            b.extend_from_slice(b" farword\r\n");
            b
        };
        let plain = body("Subject: a\r\n\r\n");
        let mut mime = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".to_vec();
        mime.extend(body("Content-Type: text/plain\r\n\r\n"));
        mime.extend_from_slice(b"--b--\r\n");
        for raw in [plain, mime] {
            let got = texts(&raw, 1000);
            assert!(got.contains(&"nearword".to_string()), "{got:?}");
            assert!(!got.contains(&"farword".to_string()), "{got:?}");
        }
    }
}
