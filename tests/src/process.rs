//! Processes inside a namespace: [`Proc`] (output captured, killed on drop) and [`Tunws`], the
//! server under test, started from this workspace's binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::Netns;

/// Path of the `tunws` binary of this workspace (`target/debug/tunws` next to the test binary).
///
/// Under `cargo test` (which sets `CARGO`) it is built once per test binary first, so the tests
/// never run a stale binary; when the test binaries are run directly (as `scripts/test.sh` does,
/// after building everything as the invoking user), the existing binary is used.
pub fn tunws_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test executable is target/<profile>/deps/<name>-<hash>; tunws is target/<profile>/tunws.
        let exe = std::env::current_exe().expect("current_exe");
        let dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("test binary lives in target/<profile>/deps");
        let bin = dir.join("tunws");
        if let Ok(cargo) = std::env::var("CARGO") {
            let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "demo",
                    "--bin",
                    "tunws",
                    "--manifest-path",
                    manifest,
                ])
                .status()
                .expect("run cargo build -p demo");
            assert!(status.success(), "cargo build -p demo --bin tunws failed");
        }
        assert!(
            bin.exists(),
            "{} not found: run `cargo build -p demo` first",
            bin.display()
        );
        bin
    })
    .clone()
}

/// Output of a child process, collected by reader threads and waited on by the test.
#[derive(Default)]
struct Captured {
    text: Mutex<String>,
    changed: Condvar,
}

impl Captured {
    fn collect(self: &Arc<Self>, stream: impl Read + Send + 'static) {
        let me = Arc::clone(self);
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            while reader
                .read_until(b'\n', &mut line)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                me.text
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&line));
                me.changed.notify_all();
                line.clear();
            }
        });
    }

    fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut text = self.text.lock().unwrap();
        while !text.contains(needle) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            text = self.changed.wait_timeout(text, deadline - now).unwrap().0;
        }
        true
    }
}

/// A process started inside a namespace, killed (SIGKILL) on drop if still running; its stdout
/// and stderr are captured for assertions and printed when the test fails.
pub struct Proc {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Captured>,
    stderr: Arc<Captured>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` with piped stdin, stdout and stderr.
    ///
    /// The child gets SIGKILL when the spawning *thread* ends (PR_SET_PDEATHSIG), so spawn from
    /// the test's own thread, not from a short-lived one such as the closure of [`Netns::run`].
    pub fn spawn(label: &str, mut cmd: Command) -> Proc {
        // If the test process dies without running destructors (SIGKILL from a timeout), the
        // kernel kills the child too instead of leaving a tunws running in a deleted namespace.
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label}: {e}"));
        let stdout = Arc::new(Captured::default());
        let stderr = Arc::new(Captured::default());
        stdout.collect(child.stdout.take().expect("piped stdout"));
        stderr.collect(child.stderr.take().expect("piped stderr"));
        Proc {
            label: label.to_string(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            status: None,
        }
    }

    /// The process id (the program itself: `ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.text.lock().unwrap().clone()
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text.lock().unwrap().clone()
    }

    /// Waits until stdout or stderr contains `needle`; false on timeout or when the process exited
    /// without printing it.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let slice = Duration::from_millis(50);
            if self.stdout.wait_for(needle, slice) || self.stderr.wait_for(needle, Duration::ZERO) {
                return true;
            }
            if Instant::now() >= deadline || self.try_status().is_some() {
                // One last look: the output may have landed just before the exit.
                return self.stdout.wait_for(needle, Duration::from_millis(100))
                    || self.stderr.wait_for(needle, Duration::ZERO);
            }
        }
    }

    /// Writes `data` to the process's stdin.
    pub fn write_stdin(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(data)
            .and_then(|()| stdin.flush())
            .expect("write to stdin");
    }

    /// Closes the process's stdin (it reads end of file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends `signal` (e.g. `libc::SIGINT`) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: plain kill(2) on the PID of our own child, which has not been reaped yet
        // (reaping happens only through self.child), so the PID cannot have been reused.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill {pid}: {}", std::io::Error::last_os_error());
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits for the process to exit, up to `timeout`; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while self.try_status().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        self.try_status()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("---- {} stdout ----\n{}", self.label, self.stdout());
            eprintln!("---- {} stderr ----\n{}", self.label, self.stderr());
        }
    }
}

/// How long tunws may take to print `listening on` after it is started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// `tunws` running inside a namespace.
pub struct Tunws {
    proc: Proc,
}

impl Tunws {
    /// Starts `tunws ARGS` inside `ns` and waits for its `listening on` line.
    ///
    /// `RUST_LOG` defaults to `info` so connection logs (`client N connected …`) are captured.
    pub fn start(ns: &Netns, args: &[&str]) -> Tunws {
        let mut proc = spawn_tunws(ns, "tunws", args);
        if !proc.wait_for_output("listening on", STARTUP_TIMEOUT) {
            let status = proc.try_status();
            panic!(
                "tunws {} did not print `listening on` within {STARTUP_TIMEOUT:?} (exit status: {status:?})\nstdout:\n{}\nstderr:\n{}",
                args.join(" "),
                proc.stdout(),
                proc.stderr()
            );
        }
        Tunws { proc }
    }

    /// The underlying process (output, signals, exit status).
    pub fn proc(&mut self) -> &mut Proc {
        &mut self.proc
    }

    /// stdout and stderr of tunws so far, concatenated.
    pub fn output(&self) -> String {
        format!("{}{}", self.proc.stdout(), self.proc.stderr())
    }

    /// Stops tunws with SIGINT (it must exit 0 within 10 s) and starts it again in `ns` with
    /// `args`: the restart a client must survive by reconnecting.
    pub fn restart(&mut self, ns: &Netns, args: &[&str]) {
        self.proc.signal(libc::SIGINT);
        let status = self.proc.wait_timeout(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "tunws did not exit 0 on SIGINT: {status:?}"
        );
        *self = Tunws::start(ns, args);
    }
}

/// Waits until `path` exists while `client` runs, at most until `deadline`; whether it does
/// (a test client creates it to ask the test for something, such as a restart of tunws).
pub fn wait_for_file(path: &Path, client: &mut Proc, deadline: Instant) -> bool {
    while !path.exists() && client.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    path.exists()
}

/// Spawns the tunws binary with `args` inside `ns` without waiting for anything (for the client
/// role, which prints no `listening on`).
///
/// `TUNWS_IO` (environment), when set, is passed as `--io` to the server and client roles, so
/// the whole suite runs on either TUN I/O path (`TUNWS_IO=read-write` for the fallback).
pub fn spawn_tunws(ns: &Netns, label: &str, args: &[&str]) -> Proc {
    let bin = tunws_bin();
    let mut cmd = ns.command(bin.to_str().expect("utf-8 path"));
    cmd.args(args);
    if let Some(io) = std::env::var_os("TUNWS_IO") {
        if !matches!(args.first(), Some(&("sim" | "ladder"))) && !args.contains(&"--io") {
            cmd.arg("--io").arg(io);
        }
    }
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    Proc::spawn(label, cmd)
}
