//! `scripts/labs.sh` itself: a lab whose expected output or command no longer holds fails,
//! naming the step, what was expected and what the step printed, and leaves no namespace behind.
//! (That the committed labs pass is `test.sh`'s own step, as root and as `nobody`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use netns_tests::{require_root, tunws_bin};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Lab 1 with `from` replaced by `to` (exactly once), written to a temporary file.
fn broken_lab1(from: &str, to: &str) -> (tempdir::Dir, PathBuf) {
    let text = std::fs::read_to_string(repo().join("docs/labs/01-tun.md")).expect("read lab 1");
    assert_eq!(text.matches(from).count(), 1, "lab 1 holds {from:?} once");
    let dir = tempdir::Dir::new();
    let path = dir.0.join("01-tun.md");
    std::fs::write(&path, text.replace(from, to)).expect("write the broken copy");
    (dir, path)
}

fn labs_sh(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(repo().join("scripts/labs.sh"))
        .args(args)
        .env("TUNWS", tunws_bin())
        .output()
        .expect("run scripts/labs.sh")
}

/// Namespaces labs.sh (process `pid`) made and left.
fn leftover_namespaces(pid: u32) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("labs-{pid}-")))
        .map(str::to_string)
        .collect()
}

fn run_failing(file: &Path, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--file", file.to_str().unwrap()]);
    let child = Command::new("bash")
        .arg(repo().join("scripts/labs.sh"))
        .args(&all)
        .env("TUNWS", tunws_bin())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run scripts/labs.sh");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "labs.sh must fail: {stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("labs: 0 passed, 1 failed"),
        "closing line: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(leftover_namespaces(pid), Vec::<String>::new());
    stderr
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_changed_expectation_fails_with_the_step_and_its_output() {
    require_root!();
    let (_dir, lab) = broken_lab1(
        "^3 packets transmitted, 3 received, 0% packet loss",
        "^3 packets transmitted, 4 received",
    );
    let err = run_failing(&lab, &[]);
    assert!(err.contains("FAILED: 01-tun.md step 3 ("), "{err}");
    assert!(
        err.contains("expected a line matching  ^3 packets transmitted, 4 received"),
        "{err}"
    );
    // The output the step really printed is shown, so the student sees the difference.
    assert!(
        err.contains("| 3 packets transmitted, 3 received, 0% packet loss"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_failing_command_fails_with_its_status_and_message() {
    require_root!();
    let (_dir, lab) = broken_lab1("ip -br addr show tun0\n", "ip -br addr show tun9\n");
    let err = run_failing(&lab, &[]);
    assert!(
        err.contains("FAILED: 01-tun.md step 1 (")
            && err.contains("a command failed (exit status 1)"),
        "{err}"
    );
    assert!(err.contains("| Device \"tun9\" does not exist."), "{err}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn the_same_failure_in_a_user_namespace() {
    require_root!();
    let (_dir, lab) = broken_lab1("^tun0 +UP +", "^tun0 +DOWN +");
    let err = run_failing(&lab, &["--userns"]);
    assert!(
        err.contains("FAILED: 01-tun.md step 2 (")
            && err.contains("expected a line matching  ^tun0 +DOWN"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn the_same_failure_as_a_user_without_sudo() {
    require_root!();
    let (_dir, lab) = broken_lab1("^tun0 +DOWN +10", "^tun0 +UP +10");
    // --as copies the lab, labs.sh and tunws where `nobody` can read them and runs as nobody.
    let err = run_failing(&lab, &["--as", "nobody"]);
    assert!(
        err.contains("FAILED: 01-tun.md step 1 (")
            && err.contains("expected a line matching  ^tun0 +UP +10")
            && err.contains("| tun0             DOWN           10.0.0.1/24"),
        "{err}"
    );
}

/// A lab of two steps that needs no tunws: the second reads a variable the first set.
const SHELL_LAB: &str = "# Two steps\n\n```sh lab-run\nGREETING=hello\nprintf 'one\\ntwo\\n'\n```\n\n\
```text lab-expect\n^one$\n^two$\n```\n\n```sh lab-run\necho \"$GREETING again\"\n```\n\n\
```text lab-expect\n^hello again$\n```\n";

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn steps_share_one_shell_and_expected_lines_must_come_in_order() {
    require_root!();
    let dir = tempdir::Dir::new();
    let lab = dir.0.join("90-shell.md");
    std::fs::write(&lab, SHELL_LAB).unwrap();
    let out = labs_sh(&["--file", lab.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("labs: 1 passed, 0 failed"));

    std::fs::write(&lab, SHELL_LAB.replace("^one$\n^two$", "^two$\n^one$")).unwrap();
    let err = run_failing(&lab, &[]);
    assert!(
        err.contains("FAILED: 90-shell.md step 1 (")
            && err.contains("expected a line matching  ^one$"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn an_unknown_lab_number_is_a_clear_error() {
    require_root!();
    let out = labs_sh(&["99"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no lab 99 in docs/labs/"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!(
                "labs-test-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&path).expect("create a temporary directory");
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
