//! Archive detection for the builtin engine.

/// A zip local file header or an empty archive's end record.
pub fn is_zip(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06")
}
