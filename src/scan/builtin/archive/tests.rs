//! Archive shapes built in the test, each carried as a mail attachment through the engine.
use std::io::Write;

use crate::config::{Builtin as Cfg, UnopenableArchive};
use crate::scan::Verdict;
use crate::scan::builtin::BuiltinEngine;
use crate::scan::builtin::corpus::b64;

/// EICAR with text after it, so deflate codes it instead of storing it: the test file
/// must not show EICAR in its compressed bytes.
fn eicar() -> Vec<u8> {
    let mut v = crate::scan::builtin::signatures::EICAR.to_vec();
    v.extend_from_slice(&b"padding that compresses well. ".repeat(40));
    v
}

fn hidden(packed: &[u8]) -> &[u8] {
    assert!(
        memchr::memmem::find(packed, b"EICAR-STANDARD").is_none(),
        "the test data shows EICAR in plain"
    );
    packed
}

fn engine() -> BuiltinEngine {
    BuiltinEngine::new(&Cfg::default()).unwrap()
}

fn mail(name: &str, data: &[u8]) -> Vec<u8> {
    format!(
        "From: a@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        b64(data)
    )
    .into_bytes()
}

fn scan(name: &str, data: &[u8]) -> Verdict {
    engine().scan(&mail(name, data))
}

fn infected(v: &Verdict) -> bool {
    matches!(v, Verdict::Infected { .. })
}

fn unscannable(v: &Verdict) -> bool {
    matches!(v, Verdict::Unscannable { .. })
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn scan_hidden(name: &str, packed: &[u8]) -> Verdict {
    scan(name, hidden(packed))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// One member of a hand-built zip, with every field the test may want to lie about.
#[derive(Clone)]
struct Raw {
    name: &'static str,
    cd_name: &'static str,
    flags: u16,
    method: u16,
    body: Vec<u8>,
    plain: u32,
    /// (compressed, uncompressed) as the local header and the central record state them.
    local_sizes: Option<(u32, u32)>,
    cd_sizes: Option<(u32, u32)>,
    zip64: bool,
}

fn raw(name: &'static str, data: &[u8]) -> Raw {
    let body = deflate(data);
    let sizes = Some((body.len() as u32, data.len() as u32));
    Raw {
        name,
        cd_name: name,
        flags: 0,
        method: 8,
        body,
        plain: data.len() as u32,
        local_sizes: sizes,
        cd_sizes: sizes,
        zip64: false,
    }
}

fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// A zip whose offsets count from its own start, after `prefix` (as `cat stub a.zip`).
fn build(prefix: &[u8], entries: &[Raw]) -> Vec<u8> {
    let mut z = Vec::new();
    let mut cd = Vec::new();
    for e in entries {
        let at = z.len() as u64;
        let (lc, lu) = e.local_sizes.unwrap_or((0, 0));
        z.extend_from_slice(b"PK\x03\x04");
        le16(&mut z, 45);
        le16(&mut z, e.flags);
        le16(&mut z, e.method);
        le32(&mut z, 0);
        le32(&mut z, 0);
        let (lc, lu) = if e.zip64 {
            (u32::MAX, u32::MAX)
        } else {
            (lc, lu)
        };
        le32(&mut z, lc);
        le32(&mut z, lu);
        le16(&mut z, e.name.len() as u16);
        le16(&mut z, if e.zip64 { 20 } else { 0 });
        z.extend_from_slice(e.name.as_bytes());
        if e.zip64 {
            le16(&mut z, 1);
            le16(&mut z, 16);
            le64(&mut z, u64::from(e.plain));
            le64(&mut z, e.body.len() as u64);
        }
        z.extend_from_slice(&e.body);
        if e.flags & 8 != 0 {
            z.extend_from_slice(b"PK\x07\x08");
            le32(&mut z, 0);
            le32(&mut z, e.body.len() as u32);
            le32(&mut z, e.plain);
        }
        let (cc, cu) = e.cd_sizes.unwrap_or((0, 0));
        cd.extend_from_slice(b"PK\x01\x02");
        le16(&mut cd, 45);
        le16(&mut cd, 45);
        le16(&mut cd, e.flags);
        le16(&mut cd, e.method);
        le32(&mut cd, 0);
        le32(&mut cd, 0);
        let (cc, cu, off) = if e.zip64 {
            (u32::MAX, u32::MAX, u32::MAX)
        } else {
            (cc, cu, at as u32)
        };
        le32(&mut cd, cc);
        le32(&mut cd, cu);
        le16(&mut cd, e.cd_name.len() as u16);
        le16(&mut cd, if e.zip64 { 28 } else { 0 });
        cd.extend_from_slice(&[0; 8]);
        le32(&mut cd, 0);
        le32(&mut cd, off);
        cd.extend_from_slice(e.cd_name.as_bytes());
        if e.zip64 {
            le16(&mut cd, 1);
            le16(&mut cd, 24);
            le64(&mut cd, u64::from(e.plain));
            le64(&mut cd, e.body.len() as u64);
            le64(&mut cd, at);
        }
    }
    let cd_at = z.len() as u64;
    z.extend_from_slice(&cd);
    let zip64 = entries.iter().any(|e| e.zip64);
    if zip64 {
        let rec = z.len() as u64;
        z.extend_from_slice(b"PK\x06\x06");
        le64(&mut z, 44);
        le16(&mut z, 45);
        le16(&mut z, 45);
        le32(&mut z, 0);
        le32(&mut z, 0);
        le64(&mut z, entries.len() as u64);
        le64(&mut z, entries.len() as u64);
        le64(&mut z, cd.len() as u64);
        le64(&mut z, cd_at);
        z.extend_from_slice(b"PK\x06\x07");
        le32(&mut z, 0);
        le64(&mut z, rec);
        le32(&mut z, 1);
    }
    end_record(
        &mut z,
        entries.len() as u16,
        cd.len() as u32,
        cd_at as u32,
        zip64,
    );
    let mut out = prefix.to_vec();
    out.extend_from_slice(&z);
    out
}

fn end_record(z: &mut Vec<u8>, n: u16, size: u32, at: u32, zip64: bool) {
    z.extend_from_slice(b"PK\x05\x06");
    le32(z, 0);
    let (n, size, at) = if zip64 {
        (u16::MAX, u32::MAX, u32::MAX)
    } else {
        (n, size, at)
    };
    le16(z, n);
    le16(z, n);
    le32(z, size);
    le32(z, at);
    le16(z, 0);
}

const STUB: &[u8] = b"#!/bin/sh\nexit 0\n\x00\x01\x02 self-extractor stub, not a zip ";

#[test]
fn hand_built_zip_is_read_and_clean_one_is_clean() {
    assert!(infected(&scan_hidden(
        "a.zip",
        &build(b"", &[raw("e.txt", &eicar())])
    )));
    let clean = build(STUB, &[raw("notes.txt", b"meeting at ten")]);
    assert_eq!(scan("a.zip", &clean), Verdict::Clean);
}

#[test]
fn prefixed_zip_is_opened() {
    let z = build(STUB, &[raw("readme.txt", b"hello"), raw("e.txt", &eicar())]);
    assert!(infected(&scan_hidden("files.zip", &z)));
}

#[test]
fn lying_size_fields_do_not_hide_a_member() {
    let mut e = raw("e.txt", &eicar());
    e.local_sizes = Some((3, 3));
    e.cd_sizes = Some((3, 3));
    assert!(infected(&scan_hidden("a.zip", &build(b"", &[e.clone()]))));
    e.local_sizes = Some((u32::MAX - 1, 1));
    e.cd_sizes = Some((0, 0));
    assert!(infected(&scan_hidden("a.zip", &build(STUB, &[e]))));
}

#[test]
fn data_descriptor_with_zero_sizes_everywhere() {
    let mut e = raw("e.txt", &eicar());
    e.flags = 8;
    e.local_sizes = None;
    e.cd_sizes = None;
    assert!(infected(&scan_hidden(
        "a.zip",
        &build(b"", &[raw("a.txt", b"a"), e])
    )));
}

#[test]
fn zip64_member_behind_a_prefix() {
    let mut e = raw("e.txt", &eicar());
    e.zip64 = true;
    assert!(infected(&scan_hidden("a.zip", &build(STUB, &[e]))));
}

#[test]
fn local_and_central_names_are_both_checked() {
    let mut e = raw("invoice.exe", b"harmless bytes");
    e.cd_name = "invoice.txt";
    assert!(infected(&scan_hidden("a.zip", &build(STUB, &[e]))));
}

#[test]
fn gzip_tar_and_tar_gz() {
    assert!(infected(&scan_hidden("e.gz", &gzip(&eicar()))));
    assert_eq!(scan("n.gz", &gzip(b"plain notes")), Verdict::Clean);
    let t = tar_of(&[("docs/readme.txt", b"hi"), ("docs/run.exe", b"x")]);
    assert!(infected(&scan("docs.tar", &t)));
    let tgz = gzip(&tar_of(&[("a.txt", b"a"), ("e.com.txt", &eicar())]));
    assert!(infected(&scan_hidden("docs.tar.gz", &tgz)));
    let clean = gzip(&tar_of(&[("a.txt", b"a"), ("b.txt", b"b")]));
    assert_eq!(scan("docs.tgz", &clean), Verdict::Clean);
}

#[test]
fn nested_containers_within_the_depth_limit() {
    let inner = build(b"", &[raw("e.txt", &eicar())]);
    let tgz = gzip(&tar_of(&[("inner.zip", &inner)]));
    assert!(infected(&scan_hidden("outer.tgz", &tgz)));
    let mut deep = eicar();
    for _ in 0..6 {
        deep = gzip(&deep);
    }
    let v = scan("deep.gz", &deep);
    assert!(unscannable(&v), "{v:?}");
}

#[test]
fn unopenable_containers_are_unscannable_unless_configured_to_pass() {
    let seven = b"7z\xbc\xaf\x27\x1c\x00\x04 rest of a 7z archive".to_vec();
    let rar = b"Rar!\x1a\x07\x01\x00 rest of a rar archive".to_vec();
    let others: [&[u8]; 5] = [
        b"MSCF\0\0\0\0 a cabinet",
        b"\xfd7zXZ\0 an xz stream",
        b"BZh91AY&SY a bzip2 stream",
        b"\x00\x00-lh5-\x00 an lha archive",
        b"\x1f\x9d\x90 a compress stream",
    ];
    for data in [&seven[..], &rar[..]].into_iter().chain(others) {
        let v = scan("a.bin", data);
        assert!(unscannable(&v), "{v:?}");
    }
    // Text that merely starts like a magic is not a container.
    assert_eq!(scan("a.txt", b"BZh, said the bee"), Verdict::Clean);
    let cfg = Cfg {
        unopenable_archives: UnopenableArchive::Pass,
        ..Cfg::default()
    };
    let lenient = BuiltinEngine::new(&cfg).unwrap();
    assert_eq!(lenient.scan(&mail("a.bin", &seven)), Verdict::Clean);
}

#[test]
fn encrypted_member_is_unscannable() {
    let mut e = raw("secret.txt", b"0123456789abcdef encrypted bytes");
    e.flags = 1;
    let v = scan("a.zip", &build(STUB, &[raw("a.txt", b"a"), e]));
    assert!(unscannable(&v), "{v:?}");
}

#[test]
fn entry_count_is_checked_against_the_end_record_first() {
    let mut z = build(b"", &[raw("a.txt", b"a")]);
    let end = z.len() - 22;
    z[end + 8..end + 12].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    z[end + 10..end + 12].copy_from_slice(&60000u16.to_le_bytes());
    let v = scan("a.zip", &z);
    assert!(
        matches!(&v, Verdict::Unscannable { why } if why.contains("entries")),
        "{v:?}"
    );
}

#[test]
fn compression_ratio_limit() {
    let zeros = vec![0u8; 8 << 20];
    let v = scan("a.zip", &build(b"", &[raw("zeros.bin", &zeros)]));
    assert!(
        matches!(&v, Verdict::Unscannable { why } if why.contains("compressed")),
        "{v:?}"
    );
}

#[test]
fn decoded_bytes_per_archive_are_bounded() {
    let cfg = Cfg {
        max_archive_bytes: 64 * 1024,
        ..Cfg::default()
    };
    let small = BuiltinEngine::new(&cfg).unwrap();
    let text: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let v = small.scan(&mail("a.zip", &build(b"", &[raw("big.bin", &text)])));
    assert!(
        matches!(&v, Verdict::Unscannable { why } if why.contains("expands")),
        "{v:?}"
    );
    let gz = small.scan(&mail("a.gz", &gzip(&text)));
    assert!(unscannable(&gz), "{gz:?}");
}
