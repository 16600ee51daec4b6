//! `Net::wait_with`: ppoll with microsecond timeouts and extra fds (no TUN needed).

mod common;

use std::time::Instant as StdInstant;

use common::*;
use stack::device::memory;
use stack::{Duration, Instant, Net};

fn net() -> Net {
    let (a, _b) = memory::pair(MTU);
    Net::with_link(Box::new(a), &config(SERVER_IP), Instant::ZERO).unwrap()
}

fn pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (fds[0], fds[1])
}

#[test]
fn timeout_is_honoured_below_a_millisecond_granularity() {
    let mut net = net();
    let (r, w) = pipe();
    let start = StdInstant::now();
    let ready = net
        .wait_with(Some(Duration::from_micros(2_500)), &[r])
        .unwrap();
    let waited = start.elapsed();
    assert_eq!(ready, 0);
    assert!(
        waited >= std::time::Duration::from_micros(2_500),
        "{waited:?}"
    );
    assert!(waited < std::time::Duration::from_millis(200), "{waited:?}");
    // SAFETY: closing fds we own.
    unsafe {
        libc::close(r);
        libc::close(w);
    }
}

#[test]
fn readable_extra_fd_wakes_the_wait_and_is_named() {
    let mut net = net();
    let (r1, w1) = pipe();
    let (r2, w2) = pipe();
    // SAFETY: one byte from a live buffer into our pipe.
    assert_eq!(unsafe { libc::write(w2, b"x".as_ptr().cast(), 1) }, 1);
    let start = StdInstant::now();
    let ready = net
        .wait_with(Some(Duration::from_secs(5)), &[r1, r2])
        .unwrap();
    assert_eq!(ready, 0b10);
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    // SAFETY: closing fds we own.
    unsafe {
        for fd in [r1, w1, r2, w2] {
            libc::close(fd);
        }
    }
}

#[test]
fn links_without_fd_never_block() {
    let mut net = net();
    let start = StdInstant::now();
    net.wait(None).unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
}
