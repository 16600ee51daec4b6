//! Harness for the netns integration tests: namespaces, TUN devices and `tunws` processes that clean up after themselves.
//!
//! Every test makes its own [`Netns`] (a network namespace holding a TUN device `tun0` whose kernel
//! side is 10.0.0.1/24 and fd00::1/64), starts [`Tunws`] inside it (the userspace stack answers as
//! 10.0.0.2), and drives it with kernel-socket clients that run inside the namespace through
//! [`Netns::run`]. Dropping a guard undoes what it set up, also when the test panics, so a failed
//! test leaves no namespace and no process behind.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub use tungstenite;
use tungstenite::Message;

/// Address of the kernel side of the TUN device in every test namespace.
pub const KERNEL_ADDR: &str = "10.0.0.1";
/// Address tunws answers on (its default `--addr 10.0.0.2/24`).
pub const TUNWS_ADDR: &str = "10.0.0.2";
/// Port tunws listens on (its default `--port 8080`).
pub const TUNWS_PORT: u16 = 8080;

/// `10.0.0.2:8080` as a socket address, the endpoint every client test connects to.
pub fn tunws_endpoint() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], TUNWS_PORT))
}

/// Fails a test at once, saying why, when the process is not root.
///
/// Creating namespaces and TUN devices needs CAP_NET_ADMIN. Every test that needs it is also
/// marked `#[ignore = "needs root: run scripts/test.sh"]`, so a plain `cargo test` lists it as
/// ignored (never as passed); `scripts/test.sh` and CI run as root with `--include-ignored`.
/// Run with `--include-ignored` as another user, the test fails here instead of passing
/// without having checked anything.
#[macro_export]
macro_rules! require_root {
    () => {
        assert!(
            $crate::is_root(),
            "needs root (CAP_NET_ADMIN): run scripts/test.sh, or this test as root"
        );
    };
}

/// True when the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a command to completion and panics with its output when it fails: setup steps that fail
/// make the test meaningless, so they stop it loudly.
fn run_checked(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (is it installed? scripts/test.sh installs it)")
        });
    assert!(
        out.status.success(),
        "{program} {} failed ({}): {}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with a configured TUN device `tun0`, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `tw-<test>-<pid>-<n>` with `lo` up and `tun0` (10.0.0.1/24, fd00::1/64, link up).
    ///
    /// `test` should be short: it only makes the name readable in `ip netns list` when a run is
    /// interrupted by something stronger than a panic.
    pub fn new(test: &str) -> Netns {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("tw-{test}-{}-{n}", std::process::id());
        run_checked("ip", &["netns", "add", &name]);
        // From here on the guard exists, so a failing step below still deletes the namespace.
        let ns = Netns { name };
        let n = ns.name.as_str();
        run_checked("ip", &["-n", n, "link", "set", "lo", "up"]);
        run_checked(
            "ip",
            &["-n", n, "tuntap", "add", "dev", "tun0", "mode", "tun"],
        );
        run_checked(
            "ip",
            &["-n", n, "addr", "add", "10.0.0.1/24", "dev", "tun0"],
        );
        // nodad: the address is usable at once instead of after duplicate address detection.
        run_checked(
            "ip",
            &[
                "-n",
                n,
                "-6",
                "addr",
                "add",
                "fd00::1/64",
                "dev",
                "tun0",
                "nodad",
            ],
        );
        run_checked("ip", &["-n", n, "link", "set", "tun0", "up"]);
        ns
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace (through `ip netns exec`, which execs
    /// the program, so the child's PID is the program's own).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `f` on a thread that has entered the namespace, and returns its result.
    ///
    /// Kernel sockets opened by `f` (std `TcpStream`, tungstenite over it) live in the namespace,
    /// and so do the sockets of threads `f` spawns: a new thread inherits its creator's namespace.
    /// A panic in `f` is re-raised in the caller.
    pub fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let path =
            CString::new(format!("/var/run/netns/{}", self.name)).expect("no NUL in a netns name");
        let handle = thread::spawn(move || {
            // SAFETY: path is a valid NUL-terminated string; the fd is checked and closed below.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            assert!(
                fd >= 0,
                "open {path:?}: {}",
                std::io::Error::last_os_error()
            );
            // SAFETY: fd is a namespace file we own; setns only changes this thread's namespace.
            let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
            let err = std::io::Error::last_os_error();
            // SAFETY: fd is open and not used afterwards.
            unsafe { libc::close(fd) };
            assert_eq!(rc, 0, "setns into {path:?}: {err}");
            f()
        });
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Drops `percent` % of the packets crossing `tun0` in each direction, with nftables
    /// (`numgen random`), since netem is not available in the test kernels.
    pub fn add_loss(&self, percent: u32) {
        self.add_loss_on("tun0", percent);
    }

    /// [`Netns::add_loss`] on any interface of the namespace (a second TUN, a veth end); may be
    /// called for several interfaces, all counted by [`Netns::dropped_packets`].
    pub fn add_loss_on(&self, iface: &str, percent: u32) {
        // The counter lets a test prove that packets were really dropped.
        let rule = format!("numgen random mod 100 < {percent} counter drop");
        let nft = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &self.name, "nft"];
            all.extend_from_slice(args);
            run_checked("ip", &all);
        };
        nft(&["add", "table", "inet", "tw"]);
        nft(&[
            "add",
            "chain",
            "inet",
            "tw",
            "in",
            "{ type filter hook input priority 0; }",
        ]);
        nft(&[
            "add",
            "chain",
            "inet",
            "tw",
            "out",
            "{ type filter hook output priority 0; }",
        ]);
        nft(&["add", "rule", "inet", "tw", "in", "iifname", iface, &rule]);
        nft(&["add", "rule", "inet", "tw", "out", "oifname", iface, &rule]);
    }

    /// Packets dropped so far by the rules of [`Netns::add_loss`] (both directions).
    pub fn dropped_packets(&self) -> u64 {
        let out = self
            .command("nft")
            .args(["list", "table", "inet", "tw"])
            .output()
            .expect("nft list");
        assert!(
            out.status.success(),
            "nft list table inet tw: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Each rule reads `... counter packets N bytes M drop`.
        let text = String::from_utf8_lossy(&out.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .windows(2)
            .filter(|w| w[0] == "packets")
            .filter_map(|w| w[1].parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Not run_checked: panicking in drop during a panic would abort and hide the first error.
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "ip netns del {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("ip netns del {}: {e}", self.name),
        }
    }
}

/// Runs `ip ARGS…` (iproute2) and panics with its stderr if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A veth pair `twa` (10.9.0.1/24, in `ns`) — `twb` (10.9.0.2/24, in `peer`), both up with MTU
/// `mtu` and software segmentation before the veth (`gso_max_size` `mtu`, one segment per
/// skb), so only packets of at most `mtu` bytes cross it: without that the kernel hands a veth
/// 64 KiB GSO super-packets, which a forwarding hop or an nftables rule sees as one packet.
pub fn veth_pair(ns: &Netns, peer: &Netns, mtu: u32) {
    let mtu = mtu.to_string();
    ip(&[
        "-n",
        ns.name(),
        "link",
        "add",
        "twa",
        "type",
        "veth",
        "peer",
        "name",
        "twb",
        "netns",
        peer.name(),
    ]);
    ip(&["-n", ns.name(), "addr", "add", "10.9.0.1/24", "dev", "twa"]);
    ip(&[
        "-n",
        peer.name(),
        "addr",
        "add",
        "10.9.0.2/24",
        "dev",
        "twb",
    ]);
    for (ns, dev) in [(ns, "twa"), (peer, "twb")] {
        ip(&[
            "-n",
            ns.name(),
            "link",
            "set",
            dev,
            "mtu",
            &mtu,
            "gso_max_size",
            &mtu,
            "gso_max_segs",
            "1",
        ]);
        ip(&["-n", ns.name(), "link", "set", dev, "up"]);
    }
}

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
pub fn spawn_tunws(ns: &Netns, label: &str, args: &[&str]) -> Proc {
    let bin = tunws_bin();
    let mut cmd = ns.command(bin.to_str().expect("utf-8 path"));
    cmd.args(args);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    Proc::spawn(label, cmd)
}

/// Timeout for every blocking read and write of the kernel-side clients, so a silent server makes
/// a test fail instead of hanging.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A TCP connection to tunws (call inside [`Netns::run`]) with read and write timeouts set.
pub fn connect_tcp() -> TcpStream {
    connect_tcp_to(tunws_endpoint())
}

/// A TCP connection to `endpoint` (call inside [`Netns::run`]) with read and write timeouts set.
pub fn connect_tcp_to(endpoint: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&endpoint, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A WebSocket client over kernel TCP: tungstenite, an implementation independent of ours, so
/// the tests cannot share a misreading of RFC 6455 with the server.
pub type Client = tungstenite::WebSocket<TcpStream>;

/// Connects to `ws://10.0.0.2:8080{path}` (call inside [`Netns::run`]); panics with the reason
/// when the handshake fails.
pub fn ws_connect(path: &str) -> Client {
    let url = format!("ws://{}:{}{path}", TUNWS_ADDR, TUNWS_PORT);
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    match tungstenite::client::client_with_config(url.as_str(), connect_tcp(), Some(config)) {
        Ok((ws, _response)) => ws,
        Err(e) => panic!("WebSocket handshake with {url} failed: {e}"),
    }
}

/// Reads the next data message, answering pings on the way; panics on close or error.
pub fn read_data(ws: &mut Client) -> Message {
    loop {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => return m,
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Close(frame)) => panic!("server closed instead of sending data: {frame:?}"),
            Err(e) => panic!("read from WebSocket: {e}"),
        }
    }
}

/// Sends a raw HTTP request and returns everything the server sent until it closed the connection
/// (or [`IO_TIMEOUT`] passed). Call inside [`Netns::run`].
pub fn http_exchange(request: &[u8]) -> String {
    http_exchange_at(tunws_endpoint(), request)
}

/// [`http_exchange`] with a server at `endpoint`.
pub fn http_exchange_at(endpoint: SocketAddr, request: &[u8]) -> String {
    let mut stream = connect_tcp_to(endpoint);
    stream.write_all(request).expect("send request");
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            // A reset after the response (the server closed with our bytes unread) still leaves
            // the response we already read; a timeout ends a keep-alive response.
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

/// Sets SO_LINGER to zero so that dropping the stream sends RST instead of FIN.
pub fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid fd owned by stream, pointer and length describe a live libc::linger.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

/// Deterministic payload bytes (xorshift), so a corrupted echo cannot match by accident.
pub fn pattern_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A valid UTF-8 string of exactly `len` bytes mixing 1-, 2-, 3- and 4-byte characters.
pub fn pattern_text(len: usize) -> String {
    const CHARS: [char; 6] = ['a', 'é', '€', '𝄞', ' ', 'z'];
    let mut s = String::with_capacity(len);
    let mut i = 0;
    while s.len() < len {
        let c = CHARS[i % CHARS.len()];
        if s.len() + c.len_utf8() <= len {
            s.push(c);
        } else {
            s.push('x');
        }
        i += 1;
    }
    s
}

/// Resident set size of process `pid` in KiB (`VmRSS` in /proc), `None` once it has exited.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Saves measured figures as `target/battery/<name>.json` (next to the test binaries' profile
/// directory), for docs/SECURITY.md; returns the path written.
pub fn save_figures(name: &str, json: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test binary> → target/battery
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test binary lives in target/<profile>/deps");
    let dir = target.join("battery");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, json).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A fixed `Sec-WebSocket-Key` for raw handshakes (RFC 6455 §1.3's sample nonce).
const RAW_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Performs the upgrade to `path` by hand over a new kernel TCP connection (call inside
/// [`Netns::run`]) and returns the stream positioned just after the 101 head, for tests that
/// write frames no client library would build. Panics unless the answer is 101.
pub fn raw_upgrade(path: &str) -> TcpStream {
    let mut stream = connect_tcp();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {TUNWS_ADDR}:{TUNWS_PORT}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {RAW_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send upgrade");
    // One byte at a time, so no frame byte after the head is consumed here.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap_or_else(|e| {
            panic!(
                "read the 101 head: {e} (got {:?})",
                String::from_utf8_lossy(&head)
            )
        });
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "upgrade refused: {}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// The masking key of [`masked_frame`] (any key is valid; a fixed one keeps tests repeatable).
const RAW_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client frame header: `first` is the first byte (FIN, RSV and opcode, e.g. 0x81 for a final
/// text frame), `len` the payload length to announce, followed by the masking key.
pub fn masked_frame_header(first: u8, len: u64) -> Vec<u8> {
    let mut frame = vec![first];
    match len {
        0..=125 => frame.push(0x80 | len as u8),
        126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&len.to_be_bytes());
        }
    }
    frame.extend_from_slice(&RAW_MASK);
    frame
}

/// A whole masked client frame carrying `payload` (see [`masked_frame_header`]).
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = masked_frame_header(first, payload.len() as u64);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ RAW_MASK[i % 4]));
    frame
}

/// A frame as the server sent it (unmasked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// The first byte: FIN, RSV and opcode.
    pub first: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// The opcode (low four bits of the first byte).
    pub fn opcode(&self) -> u8 {
        self.first & 0x0f
    }

    /// The status code of a Close frame (`None` for other frames and for a Close without one).
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode() == 0x8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one server frame; refuses masked frames and lengths above 64 MiB (a test peer never
/// expects more), so a corrupted stream fails the test instead of allocating without bound.
pub fn read_server_frame(stream: &mut impl Read) -> std::io::Result<ServerFrame> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    if head[1] & 0x80 != 0 {
        return Err(invalid("masked frame from the server"));
    }
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext)?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext)?;
            u64::from_be_bytes(ext)
        }
        n => u64::from(n),
    };
    if len > 64 << 20 {
        return Err(invalid("server frame longer than 64 MiB"));
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload)?;
    Ok(ServerFrame {
        first: head[0],
        payload,
    })
}

/// Reads server frames, skipping data, Ping and Pong, until a Close frame, and returns its code
/// (`None` for a Close without code); an error if the stream ends or fails first.
pub fn read_close_code(stream: &mut impl Read) -> std::io::Result<Option<u16>> {
    loop {
        let frame = read_server_frame(stream)?;
        if frame.opcode() == 0x8 {
            return Ok(frame.close_code());
        }
    }
}

/// The counts a tunws started with `--stats` answers on `GET /stats` (one flat JSON object of
/// integers), by field name. Call inside [`Netns::run`]; the asking connection is counted in
/// them (see the stats note in docs).
///
/// The request is keep-alive and the client closes first once the body is read, so the TIME-WAIT
/// state stays on the kernel side: polling the counts does not itself fill the stack's
/// `draining` count.
pub fn tunws_stats() -> HashMap<String, u64> {
    let mut stream = connect_tcp();
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n")
        .expect("send GET /stats");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let body = loop {
        let n = stream.read(&mut buf).expect("read the /stats answer");
        assert!(
            n > 0,
            "connection closed during the /stats answer: {}",
            String::from_utf8_lossy(&response)
        );
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        assert!(
            head.starts_with("HTTP/1.1 200 "),
            "GET /stats (is tunws started with --stats?): {text}"
        );
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("Content-Length in the /stats answer");
        if body.len() >= length {
            break body.to_string();
        }
    };
    body.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .filter_map(|field| {
            let (name, value) = field.split_once(':')?;
            Some((
                name.trim().trim_matches('"').to_string(),
                value.trim().parse().ok()?,
            ))
        })
        .collect()
}

/// Gauges that must return to their baseline once vanished peers are gone (stats note).
pub const STATS_GAUGES: [&str; 5] = [
    "connections",
    "handshaking",
    "sources",
    "server_connections",
    "websockets",
];

/// True when `now` is back at `baseline`: every gauge equal, and no more sockets allocated than
/// the baseline plus the pool's spare listeners (closed sockets kept for reuse).
pub fn stats_at_baseline(now: &HashMap<String, u64>, baseline: &HashMap<String, u64>) -> bool {
    STATS_GAUGES.iter().all(|g| now.get(*g) == baseline.get(*g))
        && now["sockets"] <= baseline["sockets"] + baseline["listeners"]
}

/// Polls `/stats` every 200 ms, up to 15 s (call inside [`Netns::run`]), until the counts
/// settle: until they stop changing and nothing is draining (no `baseline` given), or until they
/// are back at `baseline`; panics with both if they do not.
pub fn settled_stats(baseline: Option<&HashMap<String, u64>>) -> HashMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = tunws_stats();
    loop {
        thread::sleep(Duration::from_millis(200));
        let now = tunws_stats();
        let done = match &baseline {
            Some(b) => stats_at_baseline(&now, b),
            None => {
                STATS_GAUGES.iter().all(|g| now.get(*g) == last.get(*g)) && now["draining"] == 0
            }
        };
        if done {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "stats did not settle{}:\nnow      {now:?}\nbaseline {baseline:?}",
            if baseline.is_some() {
                " back to the baseline"
            } else {
                ""
            }
        );
        last = now;
    }
}

/// The packets of a classic pcap file (either byte order), in order. Panics on a file that is
/// not one; a truncated last record is cut at the end of the file.
pub fn pcap_packets(file: &[u8]) -> Vec<&[u8]> {
    assert!(
        file.len() >= 24,
        "pcap shorter than its global header ({} bytes)",
        file.len()
    );
    let le = match u32::from_le_bytes(file[..4].try_into().unwrap()) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        other => panic!("not a pcap file (magic {other:#x})"),
    };
    let word = |i: usize| {
        let b: [u8; 4] = file[i..i + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    // LINKTYPE_RAW (101), LINKTYPE_IPV4 (228), LINKTYPE_IPV6 (229), and DLT_RAW's value 12.
    let linktype = word(20);
    assert!(
        matches!(linktype, 101 | 228 | 229 | 12),
        "link type {linktype} does not hold bare IP packets"
    );
    let mut packets = Vec::new();
    let mut at = 24;
    while at + 16 <= file.len() {
        let caplen = word(at + 8) as usize;
        packets.push(&file[at + 16..(at + 16 + caplen).min(file.len())]);
        at += 16 + caplen;
    }
    packets
}

/// Calls `probe` every 10 ms until it gives a value, for up to `timeout`, and returns that
/// value; panics naming `what` if it never does. Tests wait for the condition they need with
/// this instead of sleeping for a guessed time.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Bytes written on `stream` that its peer has not acknowledged yet (SIOCOUTQ).
pub fn unacked_bytes(stream: &TcpStream) -> usize {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) on a TCP socket writes one int through the pointer, which
    // points to a live local.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    assert_eq!(rc, 0, "SIOCOUTQ: {}", std::io::Error::last_os_error());
    usize::try_from(queued).unwrap_or(0)
}

/// Waits until tunws's stack has acknowledged every byte written on `stream` (up to
/// [`IO_TIMEOUT`]): the bytes are in its socket buffer, not in flight.
pub fn wait_acked(stream: &TcpStream) {
    wait_for("the peer acknowledges every byte sent", IO_TIMEOUT, || {
        (unacked_bytes(stream) == 0).then_some(())
    });
}

/// Connects to tunws's `/echo`, retrying refused connects for up to 5 s: for a test that has
/// just freed a place under `--max-connections` and waits for the stack to give it back.
pub fn ws_connect_when_free(what: &str) -> Client {
    let stream = wait_for(what, Duration::from_secs(5), || {
        TcpStream::connect_timeout(&tunws_endpoint(), Duration::from_secs(1)).ok()
    });
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let url = format!("ws://{}/echo", tunws_endpoint());
    tungstenite::client::client(url.as_str(), stream)
        .unwrap_or_else(|e| panic!("{what}: upgrade: {e}"))
        .0
}
