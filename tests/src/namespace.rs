//! The namespace a test runs in: [`Netns`] (a TUN device `tun0`, kernel side 10.0.0.1/24 and
//! fd00::1/64, deleted on drop), nftables loss inside it, and veth pairs between namespaces.

use std::ffi::CString;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

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
