//! The two calls on a Unix stream socket that std does not offer as this
//! project needs them, shared by apppassd, its clients and the module: who
//! is at the other end (SO_PEERCRED), and a send that reports a peer gone
//! as an error instead of raising SIGPIPE, which in a host that does not
//! ignore it (a PAM module lives in someone else's process) kills it.
#![allow(unsafe_code)]

use std::io;
use std::os::unix::net::UnixStream;

/// The uid of the process at the other end, from the kernel: for a
/// connection made to a listening socket, who called `listen`.
pub fn peer_uid(stream: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for the call; the fd is the stream's.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && cred.uid != u32::MAX).then_some(cred.uid)
}

/// Writes all of `buf` with MSG_NOSIGNAL: a peer that hung up is an
/// `EPIPE` error, never a signal. The socket's write timeout still holds.
pub fn send_all(stream: &UnixStream, mut buf: &[u8]) -> io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    while !buf.is_empty() {
        match socket.send_with_flags(buf, libc::MSG_NOSIGNAL) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_pair_is_this_process_and_a_closed_peer_is_an_error() {
        let (a, mut b) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a), Some(crate::sys::euid()));
        send_all(&a, b"hello\n").unwrap();
        let mut got = [0u8; 6];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello\n");
        drop(b);
        // The test harness ignores SIGPIPE, so this shows the error only;
        // the e2e tests run a host that does not.
        let e = send_all(&a, b"more").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{e}");
    }
}
