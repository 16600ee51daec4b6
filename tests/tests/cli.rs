//! The command-line contract of DESIGN.md, which scripts and the README rely on: every option is
//! listed by `--help`, and a bad value is a usage error (exit 2) before any device is opened.

use netns_tests::{Netns, is_root, tunws_bin};
use std::process::Command;

/// Runs tunws; as root inside a throwaway namespace, so that an argument wrongly accepted cannot
/// create a TUN device in the host's namespace.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let ns = is_root().then(|| Netns::new("cli"));
    let bin = tunws_bin();
    let mut cmd = match &ns {
        Some(ns) => ns.command(bin.to_str().expect("utf-8 path")),
        None => Command::new(&bin),
    };
    let out = cmd.args(args).output().expect("run tunws");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn help_lists_every_option_of_the_contract() {
    let (code, text) = run(&["--help"]);
    assert_eq!(code, Some(0), "tunws --help failed: {text}");
    for option in [
        "--tun",
        "--addr",
        "--addr6",
        "--port",
        "--pcap",
        "--trace",
        "--loss",
        "--mtu",
        "--max-connections",
        "--max-message",
        "--origin",
        "--trace-web",
        "--deflate",
        "--socketio-ping-interval",
        "--socketio-ping-timeout",
    ] {
        assert!(
            text.contains(option),
            "tunws --help does not mention {option}:\n{text}"
        );
    }
    // --deflate says what it costs a connection.
    assert!(text.contains("52 KB per connection"), "{text}");
    let (code, text) = run(&["client", "--help"]);
    assert_eq!(code, Some(0), "tunws client --help failed: {text}");
    for option in ["--tun", "--addr", "--echo", "--deflate"] {
        assert!(
            text.contains(option),
            "tunws client --help does not mention {option}:\n{text}"
        );
    }
}

#[test]
fn bad_values_are_usage_errors() {
    for args in [
        &["--addr", "10.0.0.2"][..],
        &["--port", "70000"],
        &["--loss", "150"],
        &["--trace-web", "everyone"],
        &["client", "http://10.0.0.1:9001/"],
    ] {
        let (code, text) = run(args);
        assert_eq!(
            code,
            Some(2),
            "tunws {} is not a usage error:\n{text}",
            args.join(" ")
        );
    }
}
