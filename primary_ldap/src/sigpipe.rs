//! libldap writes with write(2), not send(MSG_NOSIGNAL): a server that
//! resets the connection makes the next write (the TLS close_notify of an
//! unbind) raise SIGPIPE, which would kill the host process. As libpq
//! does, SIGPIPE is blocked for this thread around the calls, and one that
//! arrived meanwhile is taken off again before the mask is restored.

pub struct PipeGuard {
    old: libc::sigset_t,
    was_pending: bool,
}

fn pipe_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset fill a set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        set
    }
}

fn pending() -> bool {
    // SAFETY: sigpending fills a set we own; sigismember reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut set) == 0 && libc::sigismember(&set, libc::SIGPIPE) == 1
    }
}

impl PipeGuard {
    pub fn new() -> PipeGuard {
        let block = pipe_set();
        // SAFETY: an all-zero sigset_t is a valid place for the old mask.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: this thread's mask only; both sets are valid.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old) };
        PipeGuard {
            old,
            was_pending: pending(),
        }
    }
}

impl Drop for PipeGuard {
    fn drop(&mut self) {
        if !self.was_pending && pending() {
            let set = pipe_set();
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: takes the pending SIGPIPE of this thread, if any,
            // without waiting.
            unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) };
        }
        // SAFETY: restores the mask this thread had.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}
