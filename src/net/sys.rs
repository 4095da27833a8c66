//! The one module that calls the C library itself: `SO_RCVLOWAT` has no safe wrapper in
//! socket2 or the standard library, and a file mapping (the Bayes database) is unsafe by
//! nature in memmap2.
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

/// Maps a file read-only (the Bayes token database).
pub fn map_readonly(file: &std::fs::File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the mapping is read-only and the files mapped this way are never changed in
    // place: their writer builds a new file and renames it over the old one, so the
    // mapped inode keeps its contents for as long as the mapping lives. Truncating the
    // file by hand while the proxy runs would break that promise (SIGBUS on access).
    unsafe { memmap2::Mmap::map(file) }
}
