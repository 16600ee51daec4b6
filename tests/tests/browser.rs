//! The chat page in headless Chromium (tests/browser/chat.test.mjs, playwright-core driving
//! Debian's /usr/bin/chromium), run with `node --test` inside the namespace where tunws answers.

use netns_tests::{Netns, Proc, Tunws, require_root};
use std::path::Path;
use std::time::Duration;

#[test]
fn chat_page_in_two_browsers() {
    require_root!();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {} (scripts/test.sh does it)",
        dir.display()
    );
    let ns = Netns::new("browser");
    let _tunws = Tunws::start(&ns, &[]);
    let mut cmd = ns.command("node");
    cmd.current_dir(&dir)
        .args(["--test", "--test-reporter=spec", "chat.test.mjs"])
        .env("TUNWS_URL", "http://10.0.0.2:8080/")
        .env("TUNWS_SCREENSHOT", std::env::temp_dir().join("tunws-chat.png"));
    let mut node = Proc::spawn("node --test chat.test.mjs", cmd);
    let status = node.wait_timeout(Duration::from_secs(90));
    let report = format!("stdout:\n{}\nstderr:\n{}", node.stdout(), node.stderr());
    let status = status.unwrap_or_else(|| panic!("browser test still running after 90 s\n{report}"));
    assert!(status.success(), "browser test failed ({status})\n{report}");
    println!("{report}");
}
