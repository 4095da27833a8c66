//! The one module that calls the C library itself: `SO_RCVLOWAT` has no safe wrapper in
//! socket2 or the standard library, and a spooled message is scanned through a file mapping
//! (`FileMap`) so that its size never lands on the heap; mapping the Bayes database
//! (memmap2) is unsafe by nature too.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;

/// Sets the socket's receive low-water mark: readiness (epoll) is reported only once this
/// many bytes are queued, or at end of stream. Linux caps the value at half the largest
/// receive buffer and signals readiness at once if lowering it makes the queue enough.
pub fn set_recv_low_water(sock: &impl AsFd, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes)
        .unwrap_or(libc::c_int::MAX)
        .max(1);
    let fd = sock.as_fd();
    // SAFETY: `fd` is borrowed from a live socket for the duration of the call; the option
    // value points to a local c_int and the length passed is exactly its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A read-only, private mapping of a whole file: its pages are the page cache's, not the
/// process heap's, and leave the process when the mapping is dropped.
pub struct FileMap {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned; sharing `&[u8]` views across threads is sound.
unsafe impl Send for FileMap {}
unsafe impl Sync for FileMap {}

impl FileMap {
    /// Maps the first `len` bytes of `file`. The caller must own the file and write nothing
    /// to it (nor shorten it) while the mapping lives: the spool's unlinked temporary file,
    /// borrowed for the mapping's lifetime, is such a file.
    pub fn new(file: &std::fs::File, len: usize) -> io::Result<FileMap> {
        if len == 0 {
            return Ok(FileMap {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh mapping at an address the kernel chooses, of a file descriptor
        // that is valid for the call; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(FileMap { ptr, len })
    }
}

impl FileMap {
    /// Runs `scan` while the pager gives this mapping's pages back every
    /// [`PAGE_INTERVAL`]: whatever the scan has read leaves the resident set, and a later
    /// read finds the same bytes again in the page cache. So a scan of a large message
    /// costs the pages it touches in a few milliseconds, not the message's size. The
    /// registration ends before the call returns, while the mapping is still borrowed.
    pub fn watch<R>(&self, scan: impl FnOnce() -> R) -> R {
        if self.len == 0 {
            return scan();
        }
        struct Unwatch(usize);
        impl Drop for Unwatch {
            fn drop(&mut self) {
                let mut maps = pager().maps.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(i) = maps.iter().position(|m| m.0 == self.0) {
                    maps.swap_remove(i);
                }
            }
        }
        let pager = pager();
        pager
            .maps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((self.ptr as usize, self.len));
        pager.wake.notify_one();
        let _unwatch = Unwatch(self.ptr as usize);
        scan()
    }
}

/// How often the pager gives back the pages of the mappings being scanned.
pub const PAGE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1);

struct Pager {
    /// Address and length of every mapping inside a `FileMap::watch` call.
    maps: std::sync::Mutex<Vec<(usize, usize)>>,
    wake: std::sync::Condvar,
}

/// The pager and its thread, started on first use. The thread sleeps on the condition
/// variable while nothing is watched, so an idle proxy has no timer.
fn pager() -> &'static Pager {
    static PAGER: std::sync::OnceLock<Pager> = std::sync::OnceLock::new();
    let mut fresh = false;
    let p = PAGER.get_or_init(|| {
        fresh = true;
        Pager {
            maps: std::sync::Mutex::new(Vec::new()),
            wake: std::sync::Condvar::new(),
        }
    });
    if fresh {
        let spawned = std::thread::Builder::new()
            .name("pager".into())
            .spawn(move || page_out(p));
        if let Err(e) = spawned {
            tracing::warn!("no pager thread ({e}): large scans keep their pages until they end");
        }
    }
    p
}

fn page_out(p: &'static Pager) {
    loop {
        {
            let mut maps = p.maps.lock().unwrap_or_else(|e| e.into_inner());
            while maps.is_empty() {
                maps = p.wake.wait(maps).unwrap_or_else(|e| e.into_inner());
            }
            for &(addr, len) in maps.iter() {
                // SAFETY: every entry is a live mapping: `FileMap::watch` removes it under
                // this lock before returning, and its map is borrowed for that whole call,
                // so it cannot be unmapped while listed. MADV_DONTNEED on a private,
                // read-only file mapping discards nothing (no page was ever copied):
                // the next read maps the same bytes from the file again.
                unsafe {
                    libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
                }
            }
        }
        std::thread::sleep(PAGE_INTERVAL);
    }
}

impl std::ops::Deref for FileMap {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` maps `len` readable bytes until `drop`; see `new` for why they do
        // not change underneath.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmaps exactly the region `new` mapped, once.
            unsafe {
                libc::munmap(self.ptr, self.len);
            }
        }
    }
}

/// glibc's malloc keeps freed memory in per-thread arenas, and once a large block has been
/// freed it raises its mmap threshold, so later large blocks come from an arena and stay
/// there: after a burst of large messages the resident set stayed at its peak. Fixed limits
/// instead: two arenas, every block from 256 KiB up mapped on its own (and unmapped when
/// freed), the top of a heap given back past 1 MiB. Must run before any thread starts.
/// Other C libraries (musl) return memory eagerly already: nothing to do there.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before other threads
    // exist, as glibc asks for M_ARENA_MAX.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * 1024);
    }
}

/// Gives the free pages inside the allocator's heaps back to the system (glibc only).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Maps a file read-only (the Bayes token database).
pub fn map_readonly(file: &std::fs::File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the mapping is read-only and the files mapped this way are never changed in
    // place: their writer builds a new file and renames it over the old one, so the
    // mapped inode keeps its contents for as long as the mapping lives. Truncating the
    // file by hand while the proxy runs would break that promise (SIGBUS on access).
    unsafe { memmap2::Mmap::map(file) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The resident KiB of the mapping starting at `addr`, from /proc/self/smaps.
    fn resident_kib(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{addr:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
        lines.next().expect("the mapping is listed");
        let rss = lines.find(|l| l.starts_with("Rss:")).unwrap();
        rss.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn touch(m: &[u8]) -> u64 {
        m.iter().step_by(4096).map(|&b| b as u64).sum()
    }

    #[test]
    fn a_watched_mapping_gives_its_pages_back_while_an_unwatched_one_keeps_them() {
        const LEN: usize = 16 << 20;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![7u8; LEN]).unwrap();
        let map = FileMap::new(&file, LEN).unwrap();
        let addr = map.ptr as usize;
        assert_eq!(touch(&map), 7 * (LEN as u64 / 4096));
        assert!(resident_kib(addr) >= (LEN as u64 / 1024) * 9 / 10);
        map.watch(|| {
            assert_eq!(
                touch(&map),
                7 * (LEN as u64 / 4096),
                "released pages read back"
            );
            let since = std::time::Instant::now();
            while resident_kib(addr) > 1024 {
                assert!(since.elapsed().as_secs() < 10, "pages never released");
                std::thread::sleep(PAGE_INTERVAL);
            }
        });
        assert_eq!(touch(&map), 7 * (LEN as u64 / 4096));
        std::thread::sleep(PAGE_INTERVAL * 10);
        assert!(
            resident_kib(addr) >= (LEN as u64 / 1024) * 9 / 10,
            "released only while watched"
        );
    }
}
