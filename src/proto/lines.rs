//! Bounded line framing shared by the text protocols: bytes are pushed in as they arrive,
//! complete CRLF (or bare LF) terminated lines come out, and a line longer than the limit
//! is an error instead of an unbounded buffer.

/// A line is longer than the configured maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    pub limit: usize,
}

#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    start: usize,
    max_line: usize,
}

impl LineBuffer {
    pub fn new(max_line: usize) -> Self {
        LineBuffer {
            buf: Vec::new(),
            start: 0,
            max_line,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete line including its terminator, or `None` if more bytes are needed.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, LineTooLong> {
        let pending = &self.buf[self.start..];
        match memchr::memchr(b'\n', pending) {
            Some(i) if i < self.max_line => {
                let s = self.start;
                self.start += i + 1;
                Ok(Some(&self.buf[s..s + i + 1]))
            }
            Some(_) => Err(LineTooLong {
                limit: self.max_line,
            }),
            None if pending.len() >= self.max_line => Err(LineTooLong {
                limit: self.max_line,
            }),
            None => Ok(None),
        }
    }

    /// Bytes received but not yet taken as lines.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.buf.len() - self.start);
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    /// Everything received and not consumed, for handing the stream to a splice.
    pub fn take_pending(&mut self) -> Vec<u8> {
        let rest = self.buf[self.start..].to_vec();
        self.buf.clear();
        self.start = 0;
        rest
    }
}

/// Strips the CRLF or LF terminator.
pub fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_anywhere_come_out_whole() {
        let input = b"USER alice\r\nPASS x\r\nSTAT\n";
        for split in 0..input.len() {
            let mut lb = LineBuffer::new(100);
            let mut got = Vec::new();
            for part in [&input[..split], &input[split..]] {
                lb.push(part);
                while let Some(l) = lb.next_line().unwrap() {
                    got.push(l.to_vec());
                }
            }
            assert_eq!(
                got,
                vec![
                    b"USER alice\r\n".to_vec(),
                    b"PASS x\r\n".to_vec(),
                    b"STAT\n".to_vec()
                ]
            );
        }
    }

    #[test]
    fn overlong_line_is_an_error_before_the_terminator_arrives() {
        let mut lb = LineBuffer::new(8);
        lb.push(b"0123456789");
        assert_eq!(lb.next_line(), Err(LineTooLong { limit: 8 }));
    }
}
