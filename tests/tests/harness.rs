//! The harness itself: a namespace gets its TUN device and is gone after drop, even after a panic.

use netns_tests::{Netns, require_root};
use std::process::Command;

fn netns_exists(name: &str) -> bool {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn namespace_has_configured_tun_and_is_deleted_on_drop() {
    require_root!();
    let ns = Netns::new("harness");
    let name = ns.name().to_string();
    assert!(netns_exists(&name));
    let out = ns
        .command("ip")
        .args(["addr", "show", "dev", "tun0"])
        .output()
        .expect("ip addr");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("inet 10.0.0.1/24"), "{text}");
    assert!(text.contains("inet6 fd00::1/64"), "{text}");
    assert!(text.contains(",UP"), "{text}");
    // A thread that entered the namespace sees its devices.
    let devices =
        ns.run(|| std::fs::read_to_string("/proc/thread-self/net/dev").expect("read net/dev"));
    assert!(
        devices.contains("tun0:"),
        "setns thread does not see tun0: {devices}"
    );
    drop(ns);
    assert!(!netns_exists(&name), "{name} still exists after drop");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn namespace_is_deleted_when_the_test_panics() {
    require_root!();
    let name = std::panic::catch_unwind(|| {
        let ns = Netns::new("panic");
        let name = ns.name().to_string();
        std::panic::panic_any(name);
    })
    .expect_err("closure panics")
    .downcast::<String>()
    .expect("panic payload is the namespace name");
    assert!(name.starts_with("tw-panic-"));
    assert!(
        !netns_exists(&name),
        "{name} left behind by a panicking test"
    );
}
