//! ICMP echo: the stack answers ping on its address (smoltcp's `auto-icmp-echo-reply`).

use netns_tests::{Netns, TUNWS_ADDR, Tunws, require_root};

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn ping_is_answered() {
    require_root!();
    let ns = Netns::new("ping");
    let _tunws = Tunws::start(&ns, &[]);
    let out = ns
        .command("ping")
        .args(["-c", "3", "-i", "0.2", "-W", "2", TUNWS_ADDR])
        .output()
        .expect("run ping (package iputils-ping)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ping failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("3 received"), "{text}");
}
