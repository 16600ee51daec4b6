//! The one place the stack asks the operating system for randomness (getrandom(2)).

use std::io;

/// 64 bits from the OS (getrandom(2)), for ISNs and the ephemeral port start.
pub(crate) fn random_seed() -> io::Result<u64> {
    let mut buf = [0u8; 8];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most `buf.len() - filled` bytes into `buf[filled..]`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        filled += n as usize;
    }
    Ok(u64::from_ne_bytes(buf))
}
