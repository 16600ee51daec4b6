#!/usr/bin/env bash
# The cost of the chat page's packet ladder: interleaved bench.sh echo runs of tunws with no
# /trace viewer, with one viewer in the default scope (it sees none of the benchmark's
# connections, which carry no token: the recording and scoping cost alone), and with one viewer
# under --trace-web all (every packet encoded and sent to it).
#
#   scripts/bench-watch.sh [ROUNDS] [OUT_DIR]      (default 4 rounds, target/bench/watch-<time>)
#
# Each round runs `scripts/bench.sh --quick --only echo --servers tunws` three times (none, own,
# all), so the three see the same machine load; prints per-cell medians over rounds of the
# ratios own÷none and all÷none of echo msgs/s and of server CPU per message. Needs what bench.sh
# needs (root, ip, taskset, python3). The viewer is bench/watcher.py on the load generator's core.
set -euo pipefail
script=bench-watch.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rounds=${1:-4}
out=${2:-$(target_dir)/bench/watch-$(date -u +%Y%m%dT%H%M%SZ)}
require_root "$@"
mkdir -p "$out"
bench() { bash "$repo/scripts/bench.sh" --quick --only echo --servers tunws "$@"; }
note "building once"
as_user cargo build --release -p demo -p bench
for ((r = 1; r <= rounds; r++)); do
    note "round $r/$rounds: no viewer, one viewer (own scope), one viewer (--trace-web all)"
    bench --no-build --out "$out/r$r-none" >"$out/r$r-none.log" 2>&1
    TUNWS_WATCHER=1 bench --no-build --out "$out/r$r-own" >"$out/r$r-own.log" 2>&1
    TUNWS_WATCHER=1 TUNWS_ARGS='--trace-web all' bench --no-build --out "$out/r$r-all" >"$out/r$r-all.log" 2>&1
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(path):
    cells = {}
    for line in open(path):
        d = json.loads(line)
        if d.get("section") == "echo" and not d.get("failed"):
            cells[(d["connections"], d["size"])] = d
    return cells
runs = {v: [load(f"{out}/r{r}-{v}/results.jsonl") for r in range(1, rounds + 1)] for v in ("none", "own", "all")}
def ratio(v, cell, field):
    pairs = [(x[cell][field], n[cell][field]) for x, n in zip(runs[v], runs["none"]) if cell in x and cell in n]
    return statistics.median(a / b for a, b in pairs) if pairs else float("nan")
print("| C | S | msgs/s, no viewer | own ÷ none | all ÷ none | server CPU µs/msg, no viewer | own ÷ none | all ÷ none |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for cell in sorted(runs["none"][0], key=lambda k: (k[1] > 65536, k[0], k[1])):
    c, s = cell
    size = f"{s} B" if s < 1024 else (f"{s // 1024} KiB" if s < 1 << 20 else "1 MiB")
    med = lambda f: statistics.median(r[cell][f] for r in runs["none"] if cell in r)
    print(f"| {c} | {size} | {med('msgs_per_s'):,.0f} | {ratio('own', cell, 'msgs_per_s'):.2f} | {ratio('all', cell, 'msgs_per_s'):.2f} "
          f"| {med('server_cpu_us_per_msg'):.2f} | {ratio('own', cell, 'server_cpu_us_per_msg'):.2f} | {ratio('all', cell, 'server_cpu_us_per_msg'):.2f} |")
PY
