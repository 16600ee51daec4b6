//! The chat page in headless Chromium (tests/browser/chat.test.mjs, playwright-core driving
//! Debian's /usr/bin/chromium), run with `node --test` inside the namespace where tunws answers:
//! two browsers chat, then tunws is restarted under a page, which must reconnect by itself.

use netns_tests::{Netns, Proc, Tunws, require_root, wait_for_file};
use std::path::Path;
use std::time::{Duration, Instant};

const NODE_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn chat_page_in_browsers() {
    require_root!();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {} (scripts/test.sh does it)",
        dir.display()
    );
    let ns = Netns::new("browser");
    let restart_dir = std::env::temp_dir().join(ns.name());
    std::fs::create_dir_all(&restart_dir).expect("create restart dir");
    let ready = restart_dir.join("ready");
    let mut tunws = Tunws::start(&ns, &[]);
    let mut cmd = ns.command("node");
    cmd.current_dir(&dir)
        .args(["--test", "--test-reporter=spec", "chat.test.mjs"])
        .env("TUNWS_URL", "http://10.0.0.2:8080/")
        .env(
            "TUNWS_SCREENSHOT",
            std::env::temp_dir().join("tunws-chat.png"),
        )
        .env("TUNWS_RESTART_DIR", &restart_dir);
    let mut node = Proc::spawn("node --test chat.test.mjs", cmd);

    // When the page of the restart test is open, stop tunws (SIGINT: close 1001) and start a
    // new one on the same device.
    let deadline = Instant::now() + NODE_TIMEOUT;
    let restarted = wait_for_file(&ready, &mut node, deadline);
    if restarted {
        tunws.restart(&ns, &[]);
    }

    let status = node.wait_timeout(deadline.saturating_duration_since(Instant::now()));
    let _ = std::fs::remove_dir_all(&restart_dir);
    let report = format!("stdout:\n{}\nstderr:\n{}", node.stdout(), node.stderr());
    let status = status
        .unwrap_or_else(|| panic!("browser test still running after {NODE_TIMEOUT:?}\n{report}"));
    assert!(status.success(), "browser test failed ({status})\n{report}");
    assert!(
        restarted,
        "the restart test never asked for the restart:\n{report}"
    );
    println!("{report}");
    drop(tunws);
}
