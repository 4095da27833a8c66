//! The one module that calls the C library itself: `SO_RCVLOWAT` has no safe wrapper in
//! socket2 or the standard library.
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
