//! Holds one message while it is scanned: in memory up to a threshold, then in an
//! anonymous (already unlinked) file, so a crash leaves nothing behind and a large message
//! does not cost its size in RAM.
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A view of the whole held message.
pub enum Held<'a> {
    Memory(&'a [u8]),
    Mapped(crate::net::FileMap),
}

impl std::ops::Deref for Held<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Held::Memory(m) => m,
            Held::Mapped(m) => m,
        }
    }
}

impl Held<'_> {
    /// Runs `scan` over these bytes; a mapping's pages are given back as the scan reads
    /// on (`crate::net::FileMap::watch`), so a large message never becomes resident whole.
    pub fn watch<R>(&self, scan: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Held::Memory(m) => scan(m),
            Held::Mapped(m) => m.watch(|| scan(m)),
        }
    }
}

#[derive(Debug)]
pub struct Spool {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    mem_limit: usize,
    dir: PathBuf,
}

/// Bytes the proxy refuses to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolFull {
    pub limit: u64,
}

impl Spool {
    pub fn new(mem_limit: usize, dir: &Path) -> Self {
        Spool {
            mem: Vec::new(),
            file: None,
            len: 0,
            mem_limit,
            dir: dir.to_path_buf(),
        }
    }

    /// A spool whose first bytes are already on the heap: `data` is taken over, not copied.
    pub fn holding(data: Vec<u8>, mem_limit: usize, dir: &Path) -> Self {
        Spool {
            len: data.len() as u64,
            mem_limit,
            mem: data,
            file: None,
            dir: dir.to_path_buf(),
        }
    }

    /// Reserves room for a message announced to be about `size` bytes, within the memory
    /// threshold, so a small message is held without reallocations.
    pub fn expect(&mut self, size: u64) {
        if self.file.is_none() {
            let want = (size as usize).min(self.mem_limit);
            self.mem.reserve(want.saturating_sub(self.mem.len()));
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.mem.len() + data.len() > self.mem_limit {
            let mut f = tempfile::tempfile_in(&self.dir)?;
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f.write_all(data)?,
            None => self.mem.extend_from_slice(data),
        }
        self.len += data.len() as u64;
        Ok(())
    }

    /// The whole message as one slice, for scanners that need random access: the memory
    /// buffer, or a read-only mapping of the spool file (page cache, not heap). Writing is
    /// impossible while the view lives, so the mapped file cannot change underneath. The
    /// file is not synced first: the mapping reads the page cache the writes went to, and
    /// the file is a scratch copy (the quarantine keeps its own durable one).
    pub fn to_bytes(&mut self) -> io::Result<Held<'_>> {
        match &self.file {
            None => Ok(Held::Memory(&self.mem)),
            Some(f) => {
                let len = usize::try_from(self.len).map_err(io::Error::other)?;
                Ok(Held::Mapped(crate::net::FileMap::new(f, len)?))
            }
        }
    }

    /// Positional read, so senders can stream the spool without holding it all.
    pub fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        match &self.file {
            None => {
                let start = (pos as usize).min(self.mem.len());
                let n = buf.len().min(self.mem.len() - start);
                buf[..n].copy_from_slice(&self.mem[start..start + n]);
                Ok(n)
            }
            Some(f) => std::os::unix::fs::FileExt::read_at(f, buf, pos),
        }
    }

    /// The first bytes, for header parsing without loading a large message.
    pub fn head(&mut self, max: usize) -> io::Result<Vec<u8>> {
        match &mut self.file {
            None => Ok(self.mem[..self.mem.len().min(max)].to_vec()),
            Some(f) => {
                f.seek(SeekFrom::Start(0))?;
                let mut v = Vec::new();
                f.take(max as u64).read_to_end(&mut v)?;
                Ok(v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_to_disk_past_the_threshold_and_keeps_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(10, dir.path());
        s.write(b"0123456").unwrap();
        assert!(!s.on_disk());
        s.write(b"789abcdef").unwrap();
        assert!(s.on_disk());
        assert_eq!(s.len(), 16);
        assert_eq!(&*s.to_bytes().unwrap(), b"0123456789abcdef");
        assert_eq!(s.head(4).unwrap(), b"0123");
        let mut b = [0u8; 4];
        assert_eq!(s.read_at(14, &mut b).unwrap(), 2);
        assert_eq!(&b[..2], b"ef");
    }
}
