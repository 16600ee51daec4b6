#!/usr/bin/env bash
# Runs the official Engine.IO v4 and Socket.IO v5 protocol test suites, unchanged, against
# `tunws --socketio-test` on the userspace stack. The suites are not on a package registry and
# are not copied into this repository: give the directory of a socketio/socket.io checkout
# (its docs/engine.io-protocol/v4-test-suite and docs/socket.io-protocol/v5-test-suite are used,
# their npm dependencies installed there with `npm ci`).
#
#   sudo scripts/socketio-suites.sh CHECKOUT [RUNS]     RUNS times each suite (default 1)
#
# The suites talk to http://localhost:3000. The script makes a namespace tw-sio-suites-<pid>
# with tun0 (kernel side 10.0.0.1, fd00::1), starts tunws there on port 3000 (10.0.0.2 and
# fd00::2), and points localhost:3000 at it with nftables (DNAT 127.0.0.1 and ::1 to tunws,
# masquerade out of tun0; route_localnet on). Everything is deleted on exit. Prints one line per
# run: `<suite>: N passing, M failing`; exits 1 if any run failed.
set -euo pipefail
script=socketio-suites.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == -h || ${1:-} == --help || $# -lt 1 ]]; then sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
checkout=$(realpath "$1")
runs=${2:-1}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive whole number, not '$runs'"
require_root "$@"
require_tools ip nft node npm cargo
suites=(engine.io-protocol/v4-test-suite socket.io-protocol/v5-test-suite)
for suite in "${suites[@]}"; do
    [[ -f $checkout/docs/$suite/test-suite.js ]] ||
        die "$checkout/docs/$suite/test-suite.js not found: give a socketio/socket.io checkout"
    [[ -d $checkout/docs/$suite/node_modules ]] ||
        (cd "$checkout/docs/$suite" && npm ci --no-audit --no-fund) || die "npm ci in docs/$suite failed"
done
commit=$(git -C "$checkout" rev-parse HEAD 2>/dev/null || echo unknown)

cd "$repo"
# A release build: the suites are latency-sensitive (one aborts a poll 5 ms after sending it and
# expects the server to have seen it; replies must beat the first ping at 300 ms).
as_user cargo build -q --release -p demo || die "cargo build --release -p demo failed"
tunws=$(target_dir)/release/tunws

ns=tw-sio-suites-$$
tunws_pid=
cleanup() {
    [[ -n $tunws_pid ]] && kill "$tunws_pid" 2>/dev/null && wait "$tunws_pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns" || die "could not create namespace $ns"
ip -n "$ns" link set lo up
# tun_up runs its ip commands inside the namespace through this wrapper.
ip() { command ip -n "$ns" "$@"; }
tun_up tun0 root
unset -f ip
ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.route_localnet=1
ip netns exec "$ns" nft -f - <<'EOF' || die "nftables setup failed"
table ip tunws_suites {
  chain output {
    type nat hook output priority -100;
    ip daddr 127.0.0.1 tcp dport 3000 dnat to 10.0.0.2:3000
  }
  chain postrouting {
    type nat hook postrouting priority 100;
    oifname "tun0" masquerade
  }
}
table ip6 tunws_suites {
  chain output {
    type nat hook output priority -100;
    ip6 daddr ::1 tcp dport 3000 dnat to [fd00::2]:3000
  }
  chain postrouting {
    type nat hook postrouting priority 100;
    oifname "tun0" masquerade
  }
}
EOF
log=$(mktemp)
ip netns exec "$ns" env RUST_LOG=warn "$tunws" --socketio-test --port 3000 --addr6 fd00::2/64 >"$log" 2>&1 &
tunws_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
grep -q "listening on" "$log" || die "tunws did not start: $(cat "$log")"

note "suites at socketio/socket.io $commit, tunws --socketio-test (release build)"
failed=0
for run in $(seq "$runs"); do
    for suite in "${suites[@]}"; do
        out=$(cd "$checkout/docs/$suite" && ip netns exec "$ns" npx mocha test-suite.js 2>&1) || failed=1
        passing=$(grep -oE '[0-9]+ passing' <<<"$out" || echo "0 passing")
        failing=$(grep -oE '[0-9]+ failing' <<<"$out" || echo "0 failing")
        note "run $run, ${suite%%/*}: $passing, $failing"
        [[ $failing == "0 failing" ]] || { echo "$out" | tail -40; failed=1; }
    done
done
[[ $failed -eq 0 ]] || die "a suite run failed"
note "every run passed"
