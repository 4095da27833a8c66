//! Framer events copied out for the driver's command and response paths, and the
//! session's adaptive read buffers.
use super::framing::{Announce, Event, Framer, Refusal};

/// Smallest read buffer; a read that fills it grows it to `deliver::CHUNK`.
const SMALL_READ: usize = 4096;

/// A framer event with its bytes copied out, for the command and response paths that are
/// not bulk (message bodies are taken straight from the framer).
#[derive(Debug)]
pub(super) enum Ev {
    Line {
        bytes: Vec<u8>,
        first: bool,
        whole: bool,
        announce: Option<Announce>,
    },
    LinePart {
        bytes: Vec<u8>,
        first: bool,
    },
    Literal(Vec<u8>),
    Chunk(Vec<u8>),
    Refused {
        tag: Option<String>,
        reason: Refusal,
    },
}

impl Ev {
    pub(super) fn of(e: Event<'_>) -> Ev {
        match e {
            Event::Line {
                bytes,
                first,
                whole,
                announce,
            } => Ev::Line {
                bytes: bytes.to_vec(),
                first,
                whole,
                announce,
            },
            Event::LinePart { bytes, first } => Ev::LinePart {
                bytes: bytes.to_vec(),
                first,
            },
            Event::Literal { bytes } => Ev::Literal(bytes.to_vec()),
            Event::LiteralChunk { bytes, .. } => Ev::Chunk(bytes.to_vec()),
            Event::Refused { tag, reason } => Ev::Refused { tag, reason },
        }
    }
}

/// A read buffer that stays small while the session is quiet.
#[derive(Debug, Default)]
pub(super) struct ReadBuf(pub(super) Vec<u8>, bool);

impl ReadBuf {
    pub(super) fn get(&mut self) -> &mut [u8] {
        if self.0.len() < SMALL_READ {
            self.0 = vec![0; SMALL_READ];
        }
        &mut self.0
    }

    /// After a read of `n` bytes: grow when it filled the buffer, shrink when small.
    pub(super) fn adapt(&mut self, n: usize) {
        let cap = crate::session::deliver::CHUNK;
        self.1 = n == self.0.len();
        if self.1 && n < cap {
            self.0 = vec![0; cap];
        } else if n < SMALL_READ && self.0.len() > SMALL_READ {
            self.0 = vec![0; SMALL_READ];
        }
    }

    /// Whether the last read found more than the buffer held: more is likely waiting.
    pub(super) fn streaming(&self) -> bool {
        self.1
    }

    /// The session waits: a buffer grown for large reads goes back to the small size, and
    /// the framer fed from it gives back what it grew to as well.
    pub(super) fn release(&mut self, framer: &mut Framer) {
        if self.0.len() > SMALL_READ {
            self.0 = vec![0; SMALL_READ];
        }
        if framer.capacity() > SMALL_READ {
            framer.release();
        }
    }
}
