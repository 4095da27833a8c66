//! Recognises containers by their bytes, never by a name or a declared type.

/// A container the builtin engine recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Zip,
    Gzip,
    Tar,
    /// A format that is not opened here; the name is for the verdict's reason.
    Opaque(&'static str),
}

/// Formats recognised but not opened: (name, offset, magic).
const OPAQUE: &[(&str, usize, &[u8])] = &[
    ("7z", 0, b"7z\xbc\xaf\x27\x1c"),
    ("rar", 0, b"Rar!\x1a\x07"),
    ("cab", 0, b"MSCF\0\0\0\0"),
    ("xz", 0, b"\xfd7zXZ\0"),
    ("zstd", 0, b"\x28\xb5\x2f\xfd"),
    ("lzip", 0, b"LZIP"),
    ("ace", 7, b"**ACE**"),
    ("xar", 0, b"xar!\0\x1c"),
    ("wim", 0, b"MSWIM\0\0\0"),
    ("stuffit", 0, b"StuffIt "),
    ("iso9660", 32769, b"CD001"),
];

/// The container `data` holds, if any.
pub fn detect(data: &[u8]) -> Option<Container> {
    if data.starts_with(b"\x1f\x8b\x08") {
        return Some(Container::Gzip);
    }
    if super::zip::looks_like_zip(data) {
        return Some(Container::Zip);
    }
    if super::tar::looks_like_tar(data) {
        return Some(Container::Tar);
    }
    opaque(data).map(Container::Opaque)
}

fn opaque(data: &[u8]) -> Option<&'static str> {
    for (name, at, magic) in OPAQUE {
        if data.get(*at..).is_some_and(|d| d.starts_with(magic)) {
            return Some(name);
        }
    }
    // bzip2: "BZh", a block size digit, then a block or end-of-stream marker.
    if data.len() >= 10
        && data.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&data[3])
        && (data[4..].starts_with(b"1AY&SY") || data[4..].starts_with(b"\x17\x72\x45\x38\x50\x90"))
    {
        return Some("bzip2");
    }
    // compress (.Z): the magic, then a flags byte whose reserved bits are clear.
    if data.len() >= 3 && data.starts_with(b"\x1f\x9d") && data[2] & 0x60 == 0 {
        return Some("compress");
    }
    // lzh/lha: "-lh5-", "-lzs-" and the like at offset 2.
    if let Some(m) = data.get(2..7)
        && m[0] == b'-'
        && m[1] == b'l'
        && (m[2] == b'h' || m[2] == b'z')
        && m[4] == b'-'
    {
        return Some("lzh");
    }
    // arj: the magic, then a basic header size of at most 2600 bytes.
    if data.len() >= 4 && data.starts_with(b"\x60\xea") {
        let size = u16::from_le_bytes([data[2], data[3]]);
        if (1..=2600).contains(&size) {
            return Some("arj");
        }
    }
    None
}
