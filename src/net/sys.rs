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
