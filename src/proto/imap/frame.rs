//! The framer's vocabulary: who sends, its limits, the events it reports, and reading a
//! literal announce and a tag from a line.
use imap_codec::fragmentizer::LiteralAnnouncement;
use imap_codec::imap_types::core::LiteralMode;

/// Longest tag kept for a refusal.
const MAX_TAG: usize = 64;

/// Who sends the bytes a framer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Longest line (terminator included) delivered whole. A longer client line refuses
    /// its command; a longer server line is delivered in pieces.
    pub max_line: usize,
    /// Largest client literal accepted (server literals are not limited here: they are
    /// streamed and the spool applies its own limit).
    pub max_literal: u64,
    /// Literals up to this size arrive as one `Literal` event; larger ones as chunks.
    pub inline_literal: usize,
}

/// A literal announced at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce {
    pub size: u64,
    /// `{n}` (the client waits for a continuation) rather than `{n+}`.
    pub sync: bool,
    /// `~{n}` (RFC 3516 literal8).
    pub binary: bool,
}

/// Why a client command is refused by the proxy instead of being forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    LineTooLong { limit: usize },
    LiteralTooLarge { size: u64, limit: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A line with its terminator. `first`: it starts a message (a command or response).
    /// `whole`: false for the last piece of a server line longer than `max_line`.
    /// On the client side a synchronising `announce` pauses the framer until
    /// [`Framer::continue_literal`] or [`Framer::refuse_literal`].
    Line {
        bytes: &'a [u8],
        first: bool,
        whole: bool,
        announce: Option<Announce>,
    },
    /// A piece of a server line longer than `max_line`; the rest follows, ending in a
    /// `Line` with `whole: false`. `first` as for `Line`, on the first piece.
    LinePart { bytes: &'a [u8], first: bool },
    /// A whole literal of at most `inline_literal` bytes.
    Literal { bytes: &'a [u8] },
    /// A piece of a larger literal, in order; `last` on the final one.
    LiteralChunk { bytes: &'a [u8], last: bool },
    /// The current client command is refused and dropped whole (including what was
    /// already delivered of it); the driver answers `tag` with a tagged NO or BAD. Sent
    /// when the client waits for that answer: at once for a synchronising literal, after
    /// the end of the command otherwise (its remaining bytes are consumed unparsed).
    Refused {
        tag: Option<String>,
        reason: Refusal,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The server announced a literal above 4 GiB.
    ServerLiteralTooLarge { size: u64 },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::ServerLiteralTooLarge { size } => {
                write!(f, "the server announced a literal of {size} bytes")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// The literal announced at the end of `line`, read as the Fragmentizer reads it but with
/// a 64-bit size (saturating), so an announce it cannot count is still seen.
pub(super) fn announce_of(line: &[u8], seen: Option<LiteralAnnouncement>) -> Option<Announce> {
    let parsed = parse_announce(line);
    match (seen, parsed) {
        (Some(a), p) => Some(Announce {
            size: u64::from(a.length),
            sync: a.mode == LiteralMode::Sync,
            binary: p.is_some_and(|p| p.binary),
        }),
        (None, Some(p)) if p.size > u64::from(u32::MAX) => Some(p),
        (None, _) => None,
    }
}

fn parse_announce(line: &[u8]) -> Option<Announce> {
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let body = body.strip_suffix(b"}")?;
    let (body, plus) = match body.strip_suffix(b"+") {
        Some(b) => (b, true),
        None => (body, false),
    };
    let digits = body.len() - body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let (head, num) = body.split_at(digits);
    let head = head.strip_suffix(b"{")?;
    if num.is_empty() {
        return None;
    }
    let size = num.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some(Announce {
        size,
        sync: !plus,
        binary: head.ends_with(b"~"),
    })
}

/// The first word of a command line, if it can be a tag.
pub(super) fn parse_tag(line: &[u8]) -> Option<String> {
    let end = line.iter().position(|&b| b == b' ')?;
    let tag = &line[..end];
    let ok = !tag.is_empty()
        && tag.len() <= MAX_TAG
        && tag
            .iter()
            .all(|&b| b.is_ascii_graphic() && !b"(){%*\"\\+".contains(&b));
    ok.then(|| String::from_utf8_lossy(tag).into_owned())
}

impl FrameLimits {
    /// The limits configured in `[imap]`.
    pub fn from_config(cfg: &crate::config::Imap) -> Self {
        FrameLimits {
            max_line: cfg.max_line_bytes,
            max_literal: cfg.max_literal_bytes,
            inline_literal: cfg.literal_memory_bytes,
        }
    }
}
