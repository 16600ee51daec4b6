#!/usr/bin/env bash
# permessage-deflate on vs off, side by side: interleaved rounds against two tunws processes on
# core 0, one started with --deflate and one without, driven by bench/deflate_load.mjs (Node's ws
# from tests/interop, offering the extension to the --deflate one only) on core 1.
#
#   scripts/bench-deflate.sh [--rounds N] [--duration S] [--only echo,memory] [--no-build] [--out DIR]
#
#   echo    closed-loop echo of chat-like text, C=100 x 4 KiB, C=100 x 32 B and C=1 x 4 KiB:
#           msgs/s, server CPU per message, bytes on the wire per echoed message, and the load
#           generator's CPU (with deflate Node's ws is the limit); then the C=100 cells again at
#           a fixed rate both variants sustain (1,000 msgs/s of 4 KiB, 5,000 of 32 B), where
#           server CPU per message compares like with like
#   memory  1,000 connections to a fresh tunws: server RSS per idle connection, and per connection
#           once each has echoed one 4 KiB message (inflater and compressor allocated)
# Prints a table of medians and on/off ratios (median of each round's ratio); raw lines in
# DIR/results.jsonl (default target/bench/deflate-<UTC time>). Needs root (namespace, TUN), ip,
# taskset, python3, node, and `npm ci` done in tests/interop (scripts/test.sh does it). Hold the
# bench lock on a shared machine: flock /work/notes/bench.lock scripts/bench-deflate.sh --no-build
set -euo pipefail
script=bench-deflate.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rounds=3
duration=3
sections=echo,memory
build=1
out=
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) rounds=$2; shift ;;
        --duration) duration=$2; shift ;;
        --only) sections=$2; shift ;;
        --no-build) build=0 ;;
        --out) out=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$script: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ,$sections, == *,$1,* ]]; }
require_root "$@"
require_tools ip taskset python3 node
[[ -d $repo/tests/interop/node_modules/ws ]] || die "Node's ws is missing: run 'npm ci' in tests/interop"
if [[ $build -eq 1 ]]; then as_user cargo build --release -p demo --bin tunws; fi
tunws=$(target_dir)/release/tunws
[[ -x $tunws ]] || die "$tunws missing: run without --no-build"
out=${out:-$(target_dir)/bench/deflate-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# Read now: HEAD may move during the run.
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ $build -eq 1 ]] || commit="$commit (--no-build: the tunws binary as found)"

ns=tw-bdfl-$$
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
in_ns() { ip netns exec "$ns" "$@"; }
ip netns add "$ns"
in_ns ip link set lo up
# One TUN per variant: off on 10.204.0.0/24, on (--deflate) on 10.205.0.0/24; tunws is .2.
declare -A net=([off]=10.204.0 [on]=10.205.0) flag=([off]= [on]=--deflate) pid=()
for v in off on; do
    in_ns ip tuntap add dev "twd$v$$" mode tun
    in_ns ip addr add "${net[$v]}.1/24" dev "twd$v$$"
    in_ns ip link set "twd$v$$" txqueuelen 10000 up
done

# (Re)starts the tunws of variant $1 on core 0 and waits for its `listening on` line.
start() {
    local v=$1 log=$out/tunws-$1.log i
    [[ -n ${pid[$v]:-} ]] && { kill "${pid[$v]}" 2>/dev/null || true; wait "${pid[$v]}" 2>/dev/null || true; }
    : >"$log"
    # Not through in_ns: a backgrounded shell function is a subshell, and $! would not be tunws.
    ip netns exec "$ns" taskset -c 0 "$tunws" --tun "twd$v$$" --addr "${net[$v]}.2/24" --port 8080 \
        --max-connections 1100 ${flag[$v]} >"$log" 2>&1 &
    pid[$v]=$!
    pids+=("${pid[$v]}")
    for i in $(seq 100); do
        grep -q "listening on" "$log" && return 0
        sleep 0.1
    done
    die "tunws ($v) did not start (log: $log)"
}

# run VARIANT ROUND MODE ARGS...: one load generator run, its JSON line tagged and recorded.
run() {
    local v=$1 r=$2 mode=$3 line
    shift 3
    line=$(in_ns taskset -c 1 node "$repo/bench/deflate_load.mjs" "$mode" --url "ws://${net[$v]}.2:8080/echo" \
        --server-pid "${pid[$v]}" ${flag[$v]} "$@") || die "load generator failed: $v $mode $*"
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(variant=sys.argv[2], round=int(sys.argv[3])); print(json.dumps(d))' \
        "$line" "$v" "$r" >>"$results"
}

for ((r = 1; r <= rounds; r++)); do
    # Alternate which variant goes first, so drift over the run hits both.
    order=(off on)
    ((r % 2 == 0)) && order=(on off)
    if want echo; then
        note "round $r/$rounds: echo"
        for v in off on; do start "$v"; done
        for cell in "100 4096 0" "100 32 0" "1 4096 0" "100 4096 1000" "100 32 5000"; do
            read -r c s rate <<<"$cell"
            for v in "${order[@]}"; do
                run "$v" "$r" echo -c "$c" -s "$s" --rate "$rate" --duration "$duration" --warmup 1
            done
        done
    fi
    if want memory; then
        note "round $r/$rounds: memory, 1,000 connections"
        for v in "${order[@]}"; do
            start "$v" # a fresh process: its RSS growth is these connections' alone
            run "$v" "$r" memory -n 1000 -s 4096
        done
    fi
done

{
    echo "command: scripts/bench-deflate.sh $* (rounds=$rounds duration=${duration}s)"
    echo "commit: $commit"
    echo "load average at start $load_start, at end $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt"
python3 - "$results" <<'PY' | tee "$out/report.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert all(r["negotiated"] == (r["variant"] == "on") for r in rows), "negotiation not as intended"
assert all(r.get("mismatches", 0) == 0 for r in rows), "an echo differed"
assert all(r["server_cpu_us_per_msg"] > 0 for r in rows if r["mode"] == "echo"), "no server CPU read"
med = statistics.median
def pairs(mode, key, field):
    by = {}
    for r in rows:
        if r["mode"] == mode and key(r):
            by.setdefault(r["round"], {})[r["variant"]] = r[field]
    return [(p["off"], p["on"]) for p in by.values() if len(p) == 2]
def cell(mode, key, field, fmt):
    p = pairs(mode, key, field)
    if not p:
        return "| – | – | – |"
    return f"| {fmt(med(a for a, _ in p))} | {fmt(med(b for _, b in p))} | {med(b / a for a, b in p):.2f}× |"
echo = sorted({(r["connections"], r["size"], r["rate"]) for r in rows if r["mode"] == "echo"},
              key=lambda k: (k[2], -k[0], -k[1]))
if echo:
    print("| C | S | rate | field | off | on (--deflate) | on ÷ off |\n|---:|---:|---|---|---:|---:|---:|")
    for c, s, rate in echo:
        k = lambda r: (r["connections"], r["size"], r["rate"]) == (c, s, rate)
        head = f"| {c} | {s} B | {f'{rate:,} msgs/s' if rate else 'closed loop'} |"
        print(f"{head} msgs/s " + cell("echo", k, "msgs_per_s", lambda v: f"{v:,.0f}"))
        print(f"{head} server CPU µs/msg " + cell("echo", k, "server_cpu_us_per_msg", lambda v: f"{v:.1f}"))
        print(f"{head} bytes read by the client per msg " + cell("echo", k, "wire_bytes_per_msg", lambda v: f"{v:,.0f}"))
        print(f"{head} load generator's CPU, share of its core " + cell("echo", k, "client_cpu_share", lambda v: f"{v:.2f}"))
if any(r["mode"] == "memory" for r in rows):
    print("\n| 1,000 connections | off | on (--deflate) | on ÷ off |\n|---|---:|---:|---:|")
    for field, label in (("idle_kib_per_conn", "RSS per idle connection, KiB"),
                         ("active_kib_per_conn", "RSS per connection after one 4 KiB echo, KiB")):
        print(f"| {label} " + cell("memory", lambda r: True, field, lambda v: f"{v:.1f}"))
PY
note "results: $out/report.md (raw: $results)"
