#!/usr/bin/env bash
# Side-by-side benchmarks: tunws (userspace TCP over a TUN) against kernel-TCP peers, one run.
#
#   scripts/bench.sh [--quick] [--rounds N] [--duration S] [--warmup S] [--out DIR]
#                    [--only echo,connect,bulk,scale,loss,counts,sio] [--servers tunws,tungstenite,fastwebsockets]
#                    [--scale 10,1000,10000] [--loss 1,2,5] [--bulk-loss P] [--no-build] [--no-offload]
#                    [--sio-servers tunws,node,socketioxide] [--sio-clients N] [--sio-cells idle,ack,broadcast]
#
# Builds release, makes two namespaces (tw-bench-<pid>-c: load generator + TUN + tunws;
# tw-bench-<pid>-p: kernel-TCP peers, reached over a veth pair), pins every server to core 0 and
# the load generator to core 1, and runs interleaved rounds (medians reported) of:
#   echo     WebSocket echo, C in {1,10,100,1000} x S in {32 B, 4 KiB}, plus 1 MiB at C=1:
#            tunws /echo vs peer-tungstenite vs peer-fastwebsockets; msgs/s, latency, server CPU/msg
#   connect  connect + upgrade + one echo + close, per second (10 concurrent workers)
#   bulk     raw TCP both directions, kernel <-> tunbulk (the stack without WebSocket, its
#            listener asking for 256 KiB receive rings) vs kernel <-> kernel over veth, at MTU
#            1500 and 65000
#   scale    N idle WebSockets (10, 1000, 10000) + echo latency of one more; server RSS per idle one
#   loss     (only when asked for: --only ...,loss) echo of 16 KiB messages at C=1 with P % of the
#            packets dropped each way (nftables, P in --loss) on the TUN and on the veth, whose
#            GSO is held to one MTU so a verdict is one segment on the kernel path too; reported as
#            the time per 4 MiB (256 messages) and its ratio to each kernel-TCP peer
#   --bulk-loss P: the bulk cells run with P % loss each way (same rules, on tunbulk's TUN too)
#   counts   (only when asked for) system calls and packets per message for each server, at
#            C=1 32 B, C=10 32 B, C=100 4 KiB and connect: `perf stat` counts the server's system
#            calls (tracepoints) and the interface counters (the TUN for tunws, the peers' veth)
#            count packets each way over one loadgen run without warmup (needs perf); with
#            PROFILE=1 in the environment also a CPU profile of each server over that run
#            (`perf record -F 999 -g`, DIR/perf-SERVER-CELL-rROUND.data)
# Writes DIR/results.jsonl (every run), DIR/summary.json (medians) and DIR/report.md (tables with
# ratio columns). Default DIR: target/bench/<UTC time>. --quick: 1 round, short runs, smaller N.
# --no-offload: tunws and tunbulk exchange MTU-sized packets with the kernel (no TSO/GSO over the
# TUN), for A/B runs against the default.
# Needs root (namespaces, TUN), ip, taskset, python3. Every address used is inside the namespaces.
# TUNWS_ARGS (environment): extra tunws options for A/B runs, e.g. TUNWS_ARGS='--socket-buffer
# 262144'; TUNBULK_ARGS: the same for tunbulk in the bulk cells, e.g. TUNBULK_ARGS='--rx-buffer
# 65536 --tx-buffer 65536' (tunbulk asks for 256 KiB receive and send rings by default; 65536 is tunws's). TUNWS_BIN: the tunws binary to run instead of the built one (A/B runs of two builds
# with --no-build). The report's command line shows them. TUNWS_WATCHER=1: a /trace viewer watches every
# tunws run (bench/watcher.py), for the cost of the chat page's packet ladder. SIOLOAD_ARGS:
# extra sioload options in the sio cells, e.g. SIOLOAD_ARGS='--window 64' (broadcast).
set -euo pipefail
script=bench.sh
command_line="${TUNWS_BIN:+TUNWS_BIN=$TUNWS_BIN }${TUNWS_WATCHER:+TUNWS_WATCHER=$TUNWS_WATCHER }${TUNWS_ARGS:+TUNWS_ARGS='$TUNWS_ARGS' }${TUNBULK_ARGS:+TUNBULK_ARGS='$TUNBULK_ARGS' }${SIOLOAD_ARGS:+SIOLOAD_ARGS='$SIOLOAD_ARGS' }scripts/bench.sh $*"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rounds=5
duration=3
warmup=1
scale_ns=(10 1000 10000)
sections=echo,connect,bulk,scale
loss_rates=(1 2 5)
bulk_loss=0
build=1
out=
servers=(tunws tungstenite fastwebsockets)
sio_servers=(tunws node socketioxide)
sio_clients=1000
sio_cells=idle,ack,broadcast
offload_flag=()
usage() { sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) rounds=1; duration=1; warmup=0.3; scale_ns=(10 1000) ;;
        --rounds) rounds=$2; shift ;;
        --duration) duration=$2; shift ;;
        --warmup) warmup=$2; shift ;;
        --out) out=$2; shift ;;
        --only) sections=$2; shift ;;
        --servers) IFS=, read -r -a servers <<<"$2"; shift ;;
        --sio-servers) IFS=, read -r -a sio_servers <<<"$2"; shift ;;
        --sio-clients) sio_clients=$2; shift ;;
        --sio-cells) sio_cells=$2; shift ;;
        --scale) IFS=, read -r -a scale_ns <<<"$2"; shift ;;
        --loss) IFS=, read -r -a loss_rates <<<"$2"; shift ;;
        --bulk-loss) bulk_loss=$2; shift ;;
        --no-build) build=0 ;;
        --no-offload) offload_flag=(--no-offload) ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$script: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
require_root "$@"
require_tools ip taskset python3 cargo
[[ $(nproc) -ge 2 ]] || die "needs 2 cores (server on core 0, load generator on core 1)"
want() { [[ ,$sections, == *,$1,* ]]; }
serving() { [[ " ${servers[*]} " == *" $1 "* ]]; }

# The commit the binaries are built from, read now: HEAD can move during a long run, and a
# commit read at the end once labelled a run with a commit its binaries did not contain.
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD -- ws stack demo bench 2>/dev/null ||
    commit="$commit + uncommitted changes in ws/stack/demo/bench"
[[ $build -eq 1 ]] || commit="$commit (--no-build: binaries as found in the target dir)"
if [[ $build -eq 1 ]]; then
    note "building release binaries (tunws, loadgen, peers, tcpbulk, tunbulk, sioload)"
    as_user cargo build --release -p demo -p bench
fi
bin=$(target_dir)/release
for b in loadgen peer-tungstenite peer-fastwebsockets tcpbulk $(serving tunws && [[ -z ${TUNWS_BIN:-} ]] && echo tunws) \
    $(want sio && echo sioload peer-socketioxide $([[ -z ${TUNWS_BIN:-} ]] && echo tunws)); do
    [[ -x $bin/$b ]] || die "$bin/$b missing: run without --no-build"
done
tunws_bin=${TUNWS_BIN:-$bin/tunws}
[[ -x $tunws_bin ]] || ! serving tunws || die "TUNWS_BIN=$tunws_bin is not an executable"
# Node's socket.io for the sio cells, as pinned by bench/socketio-node/package-lock.json.
node_dir=$repo/bench/socketio-node
if want sio && [[ " ${sio_servers[*]} " == *" node "* ]]; then
    require_tools node npm jq
    locked=$(jq -r '.packages["node_modules/socket.io"].version' "$node_dir/package-lock.json")
    installed=$(jq -r .version "$node_dir/node_modules/socket.io/package.json" 2>/dev/null || echo none)
    if [[ $locked != "$installed" ]]; then
        note "installing socket.io $locked into bench/socketio-node (npm ci)"
        (cd "$node_dir" && as_user npm ci --no-audit --no-fund) || die "npm ci in bench/socketio-node failed"
    fi
fi
out=${out:-$(target_dir)/bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
# Other load on the machine skews every figure: keep it on record.
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u +%H:%M:%S)
results=$out/results.jsonl
: >"$results"

# Names are unique per run so parallel runs and leftovers never collide.
ns_c=tw-bench-$$-c
ns_p=tw-bench-$$-p
veth_c=twbc$$
veth_p=twbp$$
tun_ws=twbw$$
tun_bulk=twbb$$
kernel_c=10.201.0.1 kernel_p=10.201.0.2
tunws_net=10.202.0 bulk_net=10.203.0
pids=()

cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$ns_c" 2>/dev/null || true
    ip netns del "$ns_p" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_c() { ip netns exec "$ns_c" "$@"; }
in_p() { ip netns exec "$ns_p" "$@"; }

note "namespaces $ns_c (load generator, TUN, tunws) and $ns_p (kernel peers)"
ip netns add "$ns_c"
ip netns add "$ns_p"
ip link add "$veth_c" netns "$ns_c" type veth peer name "$veth_p" netns "$ns_p"
in_c ip addr add $kernel_c/24 dev "$veth_c"
in_p ip addr add $kernel_p/24 dev "$veth_p"
for dev in "$tun_ws" "$tun_bulk"; do in_c ip tuntap add dev "$dev" mode tun; done
in_c ip addr add $tunws_net.1/24 dev "$tun_ws"
in_c ip addr add $bulk_net.1/24 dev "$tun_bulk"
# The TUNs get the queue scripts/demo.sh gives users (lib.sh tun_up): at the kernel's default of
# 500 packets, C = 1000 × 4 KiB overflowed it (tens of thousands of drops per run).
for dev in "$tun_ws" "$tun_bulk"; do in_c ip link set "$dev" txqueuelen 10000; done
for dev in lo "$veth_c" "$tun_ws" "$tun_bulk"; do in_c ip link set "$dev" up; done
for dev in lo "$veth_p"; do in_p ip link set "$dev" up; done
# Connection churn and 10 000 idle sockets need the whole port range and quick port reuse.
for ns in "$ns_c" "$ns_p"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || note "could not raise the open-file limit"
[[ $(ulimit -n) == unlimited || $(ulimit -n) -ge 10100 ]] || note "open-file limit $(ulimit -n): the 10 000-connection scale run will fail"

# Starts a server in a namespace on core 0, waits for its "listening on" line, sets $started.
start_server() {
    local name=$1 ns=$2 log=$out/$1.log
    shift 2
    local seen=0 i
    [[ -f $log ]] && seen=$(wc -l <"$log")
    ip netns exec "$ns" taskset -c 0 "$@" >>"$log" 2>&1 &
    started=$!
    pids+=("$started")
    for i in $(seq 100); do
        tail -n +$((seen + 1)) "$log" | grep -q "listening on" && return 0
        kill -0 "$started" 2>/dev/null || break
        sleep 0.1
    done
    tail -5 "$log" >&2
    die "$name did not start (log: $log)"
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# Every benchmark client shares one address (the kernel side of the TUN), so tunws's per-source
# cap (a defence for real deployments) is off.
# tunws runs with its default --max-connections (1024, room for C=1000) except in the scale runs,
# which need 10 000 idle connections plus the active one: the cap also bounds how many TIME-WAIT
# sockets smoltcp keeps and scans, so a larger cap than needed would slow the other cells.
tunws_max_connections=
start_tunws() {
    start_server tunws "$ns_c" "$tunws_bin" --tun "$tun_ws" --addr $tunws_net.2/24 --port 8080 \
        --mtu "$1" --max-per-source 0 ${tunws_max_connections:+--max-connections "$tunws_max_connections"} \
        "${offload_flag[@]}" ${TUNWS_ARGS:-}
    tunws_pid=$started
    if [[ -n ${TUNWS_WATCHER:-} ]]; then start_watcher; fi
}

# TUNWS_WATCHER=1: one /trace viewer (bench/watcher.py) attached to every tunws started, for
# the cost of a watching chat page; it leaves when that tunws stops.
start_watcher() {
    local log=$out/watcher.log seen=0 i
    [[ -f $log ]] && seen=$(wc -l <"$log")
    ip netns exec "$ns_c" taskset -c 1 python3 "$repo/bench/watcher.py" $tunws_net.2:8080 >>"$log" 2>&1 &
    pids+=("$!")
    for i in $(seq 50); do
        tail -n +$((seen + 1)) "$log" | grep -q "^watching" && return 0
        sleep 0.1
    done
    die "the /trace watcher did not start (log: $log)"
}

declare -A addr=([tunws]=$tunws_net.2:8080 [tungstenite]=$kernel_p:9001 [fastwebsockets]=$kernel_p:9002
    [node]=$kernel_p:9003 [socketioxide]=$kernel_p:9004)
declare -A pid

# (Re)starts one of the compared servers and records its pid.
start_named() {
    [[ -n ${pid[$1]:-} ]] && stop_server "${pid[$1]}"
    case $1 in
        tunws) start_tunws 1500; pid[tunws]=$tunws_pid ;;
        node) start_server socketio-node "$ns_p" node "$node_dir/server.js" "${addr[node]}"; pid[node]=$started ;;
        *) start_server "peer-$1" "$ns_p" "$bin/peer-$1" --cpu 0 --listen "${addr[$1]}"; pid[$1]=$started ;;
    esac
}

# Appends the loadgen JSON line of one run, tagged with section/server/round, to results.jsonl.
# A failed run is recorded as such (and the server restarted if it died) instead of stopping.
# For tunws runs it also records how many packets the kernel dropped because tunws did not read
# the TUN fast enough (its queue is txqueuelen packets long).
record() {
    local section=$1 server=$2 round=$3 line drops0 drops1 tun=$tun_ws
    shift 3
    [[ $section == bulk ]] && tun=$tun_bulk
    drops0=$(in_c cat "/sys/class/net/$tun/statistics/tx_dropped")
    if line=$("$@" 2>>"$out/loadgen.err"); then :; else
        note "run failed: $section $server round $round: $* (see $out/loadgen.err)"
        line=${line:-'{"failed":true}'}
    fi
    drops1=$(in_c cat "/sys/class/net/$tun/statistics/tx_dropped")
    [[ $server == tunws ]] || drops1=$drops0
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(section=sys.argv[2],server=sys.argv[3],round=int(sys.argv[4]),tun_tx_dropped=int(sys.argv[5])); print(json.dumps(d))' \
        "$line" "$section" "$server" "$round" $((drops1 - drops0)) >>"$results"
}

# One run of load generator $1 (bench loadgen or sioload) against server $2 on core 1 (the
# servers are on core 0); a server found dead is restarted first.
run_generator() {
    local generator=$1 server=$2
    shift 2
    if ! kill -0 "${pid[$server]}" 2>/dev/null; then
        note "$server died (log: $out/*$server.log); restarting it"
        start_named "$server"
    fi
    # A hung run costs at most three minutes beyond its own length (10 000 opens take ~15 s).
    timeout $((${duration%.*} + ${warmup%.*} + 180)) ip netns exec "$ns_c" taskset -c 1 "$bin/$generator" --cpu 1 \
        --server "${addr[$server]}" --server-pid "${pid[$server]}" --duration "$duration" --warmup "$warmup" "$@"
}

loadgen() { run_generator loadgen "$1" --path /echo "${@:2}"; }

# Each round visits the servers in a rotated order, so drift over the run hits all of them.
rotated() {
    local r=$1 n=${#servers[@]} i
    for ((i = 0; i < n; i++)); do echo "${servers[$(((i + r) % n))]}"; done
}

if want echo || want connect || want scale; then
    for server in "${servers[@]}"; do start_named "$server"; done

    cells=()
    if want echo; then
        for c in 1 10 100 1000; do for s in 32 4096; do cells+=("echo $c $s"); done; done
        cells+=("echo 1 1048576")
    fi
    want connect && cells+=("connect 10 32")
    for ((r = 1; r <= rounds; r++)); do
        note "round $r/$rounds: ${#cells[@]} echo/connect cells x ${#servers[@]} servers"
        for cell in "${cells[@]}"; do
            read -r mode c s <<<"$cell"
            for server in $(rotated "$r"); do
                record "$mode" "$server" "$r" loadgen "$server" --mode "$mode" -c "$c" -s "$s" \
                    --label "$mode c=$c s=$s"
            done
        done
    done
    if want scale; then
        tunws_max_connections=$((scale_ns[-1] + 100))
        for ((r = 1; r <= rounds; r++)); do
            for n in "${scale_ns[@]}"; do
                note "round $r/$rounds: scale, $n idle connections"
                for server in $(rotated "$r"); do
                    # A fresh process, so its RSS growth is the idle connections' and not
                    # absorbed by memory freed after earlier runs.
                    start_named "$server"
                    record scale "$server" "$r" loadgen "$server" --mode echo -c 1 -s 32 --idle "$n" \
                        --connect-batch 256 --label "scale idle=$n"
                done
            done
        done
    fi
    for server in "${servers[@]}"; do stop_server "${pid[$server]}"; done
fi

# System calls and packets per message (--only counts). The server's system calls are counted
# by tracepoint (`perf stat -p`, cheap enough not to change the loop's shape) for exactly the
# loadgen's life (perf runs it as its workload), its packets by the interface counters around
# it; the loadgen runs without warmup, so its message count covers the same span (plus the
# connections' setup, small beside the messages).
count_events=raw_syscalls:sys_enter,context-switches
for call in read readv recvfrom recvmsg write writev sendto sendmsg ppoll poll epoll_wait epoll_pwait epoll_pwait2 io_uring_enter; do
    count_events+=,syscalls:sys_enter_$call
done

# "in out": packets into and out of the server so far (a TUN's tx is what the kernel hands
# tunws; the peers' veth end counts its own receive and transmit).
iface_packets() {
    if [[ $1 == tunws ]]; then
        in_c cat "/sys/class/net/$tun_ws/statistics/tx_packets" "/sys/class/net/$tun_ws/statistics/rx_packets"
    else
        in_p cat "/sys/class/net/$veth_p/statistics/rx_packets" "/sys/class/net/$veth_p/statistics/tx_packets"
    fi | paste -sd' '
}

# One loadgen run of $server under `perf stat`; appends the loadgen line with system calls and
# packets per message to results.jsonl (section "counts"). PROFILE=1: a `perf record` of the
# server beside it.
counted() {
    local server=$1 round=$2 line in0 out0 in1 out1 profiler=
    shift 2
    read -r in0 out0 < <(iface_packets "$server")
    if [[ -n ${PROFILE:-} ]]; then
        perf record -q -F 999 -g -p "${pid[$server]}" -o "$out/perf-$server-${mode}-c$c-s$s-r$round.data" \
            -- sleep "$duration" 2>>"$out/perf-record.log" &
        profiler=$!
    fi
    line=$(perf stat -x, -e "$count_events" -p "${pid[$server]}" -o "$out/counts-perf.csv" -- \
        timeout $((${duration%.*} + 120)) ip netns exec "$ns_c" taskset -c 1 "$bin/loadgen" --cpu 1 \
        --server "${addr[$server]}" --path /echo --server-pid "${pid[$server]}" \
        --duration "$duration" --warmup 0 "$@" 2>>"$out/loadgen.err") ||
        note "run failed: counts $server round $round: $* (see $out/loadgen.err)"
    read -r in1 out1 < <(iface_packets "$server")
    [[ -z $profiler ]] || wait "$profiler" || true
    [[ -n $line ]] || line='{"failed":true}'
    python3 - "$line" "$server" "$round" $((in1 - in0)) $((out1 - out0)) "$out/counts-perf.csv" >>"$results" <<'PY'
import json, sys
line, server, rnd, pin, pout, csv = sys.argv[1:]
d = json.loads(line)
d.update(section="counts", server=server, round=int(rnd))
counts = {}
for row in open(csv):
    f = row.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        counts[f[2]] = float(f[0])
groups = {
    "syscalls": ["raw_syscalls:sys_enter"],
    "reads": [f"syscalls:sys_enter_{c}" for c in ("read", "readv", "recvfrom", "recvmsg")],
    "writes": [f"syscalls:sys_enter_{c}" for c in ("write", "writev", "sendto", "sendmsg")],
    "waits": [f"syscalls:sys_enter_{c}" for c in ("ppoll", "poll", "epoll_wait", "epoll_pwait", "epoll_pwait2", "io_uring_enter")],
    "context_switches": ["context-switches"],
}
msgs = d.get("msgs") or 0
if msgs and not d.get("failed"):
    for name, events in groups.items():
        d[f"{name}_per_msg"] = sum(counts.get(e, 0) for e in events) / msgs
    d["packets_in_per_msg"] = int(pin) / msgs
    d["packets_out_per_msg"] = int(pout) / msgs
print(json.dumps(d))
PY
}

if want counts; then
    require_tools perf
    for server in "${servers[@]}"; do start_named "$server"; done
    for ((r = 1; r <= rounds; r++)); do
        note "round $r/$rounds: system calls and packets per message"
        for cell in "echo 1 32" "echo 10 32" "echo 100 4096" "connect 10 32"; do
            read -r mode c s <<<"$cell"
            for server in $(rotated "$r"); do
                counted "$server" "$r" --mode "$mode" -c "$c" -s "$s" --label "$mode c=$c s=$s"
            done
        done
    done
    for server in "${servers[@]}"; do stop_server "${pid[$server]}"; done
fi

# Drops $1 % of the packets in and out of the TUN and the veth of the load generator's namespace
# (nftables numgen; netem is not in every kernel); 0 removes the rules.
set_loss() {
    in_c nft delete table inet twloss 2>/dev/null || true
    [[ $1 -gt 0 ]] || return 0
    local rule="numgen random mod 100 < $1 counter drop"
    in_c nft add table inet twloss
    in_c nft add chain inet twloss in '{ type filter hook input priority 0; }'
    in_c nft add chain inet twloss out '{ type filter hook output priority 0; }'
    local dev
    for dev in "$tun_ws" "$tun_bulk" "$veth_c"; do
        in_c nft add rule inet twloss in iifname "$dev" $rule
        in_c nft add rule inet twloss out oifname "$dev" $rule
    done
}

# One MTU-sized segment per skb on the veth ($1: the MTU), as on the TUN without offload: a
# loss verdict on the kernel path then drops one segment, not a 64 KiB GSO super-packet.
# Without an argument the defaults come back.
hold_gso() {
    local size=${1:-65536} segs=65535
    [[ -n ${1:-} ]] && segs=1
    in_c ip link set "$veth_c" gso_max_size "$size" gso_max_segs "$segs"
    in_p ip link set "$veth_p" gso_max_size "$size" gso_max_segs "$segs"
}

if want loss; then
    hold_gso 1500
    for server in "${servers[@]}"; do start_named "$server"; done
    for p in "${loss_rates[@]}"; do
        set_loss "$p"
        for ((r = 1; r <= rounds; r++)); do
            note "round $r/$rounds: 16 KiB echo with $p % loss each way"
            for server in $(rotated "$r"); do
                record loss "$server" "$r" loadgen "$server" --mode echo -c 1 -s 16384 \
                    --label "loss=$p echo c=1 s=16384"
            done
        done
    done
    set_loss 0
    for server in "${servers[@]}"; do stop_server "${pid[$server]}"; done
    hold_gso
fi

if want bulk; then
    if [[ ! -x $bin/tunbulk ]]; then
        note "bulk: $bin/tunbulk missing, TCP bulk through tunws skipped"
    fi
    start_server tcpbulk "$ns_p" "$bin/tcpbulk" --cpu 0 serve --listen $kernel_p:9101
    for mtu in 1500 65000; do
        in_c ip link set "$veth_c" mtu $mtu
        in_p ip link set "$veth_p" mtu $mtu
        in_c ip link set "$tun_bulk" mtu $mtu
        if [[ $bulk_loss != 0 ]]; then
            hold_gso $mtu
            set_loss "$bulk_loss"
        fi
        tunbulk_pid=
        if [[ -x $bin/tunbulk ]]; then
            start_server tunbulk "$ns_c" "$bin/tunbulk" --tun "$tun_bulk" --addr $bulk_net.2/24 --mtu $mtu \
                --port 9101 --cpu 0 "${offload_flag[@]}" ${TUNBULK_ARGS:-}
            tunbulk_pid=$started
        fi
        for ((r = 1; r <= rounds; r++)); do
            note "round $r/$rounds: TCP bulk at MTU $mtu"
            for target in kernel tunws; do
                [[ $target == tunws && -z $tunbulk_pid ]] && continue
                host=$kernel_p
                [[ $target == tunws ]] && host=$bulk_net.2
                record bulk "$target" "$r" timeout 120 ip netns exec "$ns_c" taskset -c 1 "$bin/tcpbulk" --cpu 1 send \
                    --connect $host:9101 --duration "$duration" --label "send mtu=$mtu"
                record bulk "$target" "$r" timeout 120 ip netns exec "$ns_c" taskset -c 1 "$bin/tcpbulk" --cpu 1 recv \
                    --connect $host:9101 --duration "$duration" --label "recv mtu=$mtu"
            done
        done
        [[ -n $tunbulk_pid ]] && stop_server "$tunbulk_pid"
    done
    if [[ $bulk_loss != 0 ]]; then
        set_loss 0
        hold_gso
    fi
fi

# The interface between the clients and server $1 in the generator's namespace, for sioload's
# packet counts (the TUN for tunws, the clients' veth end for the kernel-TCP servers).
sioload() {
    local iface=$veth_c
    [[ $1 == tunws ]] && iface=$tun_ws
    run_generator sioload "$@" --iface "$iface" ${SIOLOAD_ARGS:-}
}

if want sio; then
    servers=("${sio_servers[@]}")
    tunws_max_connections=$((sio_clients + 100))
    for ((r = 1; r <= rounds; r++)); do
        note "round $r/$rounds: Socket.IO emit+ack at C=100, broadcast and idle sessions at C=$sio_clients"
        for server in $(rotated "$r"); do
            # A fresh server per round: RSS growth and presence start from nothing.
            start_named "$server"
            if [[ ,$sio_cells, == *,idle,* ]]; then
                record sio "$server" "$r" sioload "$server" --mode idle -c "$sio_clients" --label "sio idle c=$sio_clients"
            fi
            if [[ ,$sio_cells, == *,ack,* ]]; then
                record sio "$server" "$r" sioload "$server" --mode ack -c 100 --label "sio ack c=100"
            fi
            if [[ ,$sio_cells, == *,broadcast,* ]]; then
                record sio "$server" "$r" sioload "$server" --mode broadcast -c "$sio_clients" -s 32 \
                    --label "sio broadcast c=$sio_clients s=32"
            fi
            stop_server "${pid[$server]}"
        done
    done
fi

{
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(uname -r)"
    echo "command: $command_line (rounds=$rounds duration=${duration}s warmup=${warmup}s)"
    echo "commit: $commit"
    echo "run: $started_at-$(date -u +%H:%M:%S) UTC, load average at start $load_start, at end $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"
python3 "$repo/bench/report.py" loadgen "$results" --machine "$out/machine.txt" \
    --summary "$out/summary.json" >"$out/report.md"
note "results: $out/report.md (raw: $results)"
