#!/usr/bin/env python3
"""Ratio tables for the benchmarks (markdown on stdout).

  report.py loadgen RESULTS.jsonl [--machine FILE] [--summary OUT.json]
      medians over rounds of scripts/bench.sh results, tables with ratio columns, target verdicts
  report.py criterion [CRITERION_DIR]
      `cargo bench -p ws` results (default target/criterion): ws vs tungstenite vs fastwebsockets
      vs memcpy, per group and size, with speedup columns

Only the standard library: it runs wherever bench.sh runs.
"""
import json
import os
import statistics
import sys
from collections import defaultdict

SERVERS = ["tunws", "tungstenite", "fastwebsockets"]
SHORT = {"tunws": "tunws", "tungstenite": "tokio-tungstenite", "fastwebsockets": "fastwebsockets"}


def fmt(v, digits=None):
    if v is None:
        return "–"
    if digits is None:
        digits = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}×"


def size_name(s):
    s = int(s)
    if s >= 1 << 20:
        return f"{s >> 20} MiB"
    if s >= 1024:
        return f"{s >> 10} KiB"
    return f"{s} B"


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


def medians(runs):
    """(section, label, server) -> {metric: median, 'n': ok runs, 'failed': failed runs}."""
    groups = defaultdict(list)
    for r in runs:
        groups[(r.get("section"), r.get("label", ""), r.get("server"))].append(r)
    out = {}
    for key, rs in groups.items():
        # A run counts when it finished and every echo was verified; errors (resets, refusals)
        # are reported, not hidden, through the 'errors' median and 'failed'.
        ok = [r for r in rs if not r.get("failed") and not r.get("mismatches")]
        m = {"n": len(ok), "failed": len(rs) - len(ok)}
        if ok:
            for k, v in ok[0].items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "round":
                    vals = [r[k] for r in ok if isinstance(r.get(k), (int, float))]
                    if vals:
                        m[k] = statistics.median(vals)
        out[key] = m
    return out


def get(med, section, label, server, metric):
    return med.get((section, label, server), {}).get(metric)


def best_peer(values):
    """The highest figure of the kernel-TCP peers in `values` (server -> figure), if any."""
    peers = [values.get(sv) for sv in SERVERS[1:] if values.get(sv) is not None]
    return max(peers) if peers else None


def echo_tables(med, lines):
    cells = sorted({(int(m.get("connections", 0)), int(m.get("size", 0)), lbl)
                    for (sec, lbl, _), m in med.items() if sec == "echo" and "size" in m},
                   key=lambda x: (x[1] > 65536, x[0], x[1]))
    if not cells:
        return
    lines += ["## WebSocket echo: msgs/s (median)", "",
              "| C | S | tunws | tokio-tungstenite | fastwebsockets | tunws ÷ t-t | tunws ÷ fws | tunws ÷ best peer | MiB/s tunws | TUN drops/run |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c, s, lbl in cells:
        v = {sv: get(med, "echo", lbl, sv, "msgs_per_s") for sv in SERVERS}
        lines.append(f"| {c} | {size_name(s)} | {fmt(v['tunws'])} | {fmt(v['tungstenite'])} | "
                     f"{fmt(v['fastwebsockets'])} | {fmt_ratio(ratio(v['tunws'], v['tungstenite']))} | "
                     f"{fmt_ratio(ratio(v['tunws'], v['fastwebsockets']))} | "
                     f"{fmt_ratio(ratio(v['tunws'], best_peer(v)))} | "
                     f"{fmt(get(med, 'echo', lbl, 'tunws', 'mib_per_s'))} | "
                     f"{fmt(get(med, 'echo', lbl, 'tunws', 'tun_tx_dropped'), 0)} |")
    lines += ["", "TUN drops/run: packets the kernel dropped because tunws had not read the TUN queue "
              "(txqueuelen) in time; each one costs a retransmission.", ""]
    lines += ["", "## WebSocket echo: latency p50 / p99 / p99.9 in µs (median over rounds)", "",
              "| C | S | tunws | tokio-tungstenite | fastwebsockets |", "|---:|---:|---|---|---|"]
    for c, s, lbl in cells:
        row = []
        for sv in SERVERS:
            p = [get(med, "echo", lbl, sv, k) for k in ("p50_us", "p99_us", "p999_us")]
            row.append(" / ".join(fmt(x) for x in p))
        lines.append(f"| {c} | {size_name(s)} | " + " | ".join(row) + " |")
    lines += ["", "## Server CPU per message in µs (utime+stime of the server process / messages)", "",
              "| C | S | tunws | tokio-tungstenite | fastwebsockets | tunws ÷ fws | server CPU util (tunws / t-t / fws) | loadgen CPU util (same runs) |",
              "|---:|---:|---:|---:|---:|---:|---|---|"]
    for c, s, lbl in cells:
        v = {sv: get(med, "echo", lbl, sv, "server_cpu_us_per_msg") for sv in SERVERS}
        lines.append(f"| {c} | {size_name(s)} | {fmt(v['tunws'])} | {fmt(v['tungstenite'])} | "
                     f"{fmt(v['fastwebsockets'])} | {fmt_ratio(ratio(v['tunws'], v['fastwebsockets']))} | "
                     + " / ".join(fmt(get(med, "echo", lbl, sv, "server_cpu_util")) for sv in SERVERS) + " | "
                     + " / ".join(fmt(get(med, "echo", lbl, sv, "loadgen_cpu_util")) for sv in SERVERS) + " |")
    lines += ["", "CPU util is CPU-seconds per second of the measured window (1.00 = one core busy).", ""]


def loss_table(med, lines):
    cells = sorted({(int(lbl.split("loss=")[1].split()[0]), lbl)
                    for (sec, lbl, _) in med if sec == "loss"})
    if not cells:
        return
    lines += ["## Under loss: 16 KiB echo at C=1, P % of packets dropped each way (median)", "",
              "Time per 4 MiB = 256 messages ÷ msgs/s; the issue-9 target is tunws ≤ 3× the kernel-TCP peers' time.", "",
              "| loss | tunws s/4 MiB | tokio-tungstenite | fastwebsockets | tunws ÷ t-t | tunws ÷ fws | p99 / max µs tunws | p99 / max µs t-t |",
              "|---:|---:|---:|---:|---:|---:|---|---|"]
    for p, lbl in cells:
        t = {sv: (None if not get(med, "loss", lbl, sv, "msgs_per_s") else 256 / get(med, "loss", lbl, sv, "msgs_per_s"))
             for sv in SERVERS}
        tail = {sv: f"{fmt(get(med, 'loss', lbl, sv, 'p99_us'))} / {fmt(get(med, 'loss', lbl, sv, 'max_us'))}"
                for sv in SERVERS}
        lines.append(f"| {p} % | {fmt(t['tunws'])} | {fmt(t['tungstenite'])} | {fmt(t['fastwebsockets'])} | "
                     f"{fmt_ratio(ratio(t['tunws'], t['tungstenite']))} | {fmt_ratio(ratio(t['tunws'], t['fastwebsockets']))} | "
                     f"{tail['tunws']} | {tail['tungstenite']} |")
    lines.append("")


def connect_table(med, lines):
    labels = sorted({lbl for (sec, lbl, _) in med if sec == "connect"})
    if not labels:
        return
    lines += ["## Connections/s (connect + upgrade + one 32 B echo + close; median)", "",
              "| workers | tunws | tokio-tungstenite | fastwebsockets | tunws ÷ t-t | tunws ÷ fws | tunws ÷ best peer | p50 / p99 µs tunws | p50 / p99 µs t-t | server CPU µs/conn (tunws / t-t / fws) | server CPU util | loadgen CPU util |",
              "|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|---|"]
    for lbl in labels:
        v = {sv: get(med, "connect", lbl, sv, "msgs_per_s") for sv in SERVERS}
        c = next((m.get("connections") for (sec, l2, _), m in med.items() if l2 == lbl and m.get("connections")), None)
        lat = {sv: f"{fmt(get(med, 'connect', lbl, sv, 'p50_us'))} / {fmt(get(med, 'connect', lbl, sv, 'p99_us'))}"
               for sv in SERVERS}
        lines.append(f"| {fmt(c)} | {fmt(v['tunws'])} | {fmt(v['tungstenite'])} | {fmt(v['fastwebsockets'])} | "
                     f"{fmt_ratio(ratio(v['tunws'], v['tungstenite']))} | "
                     f"{fmt_ratio(ratio(v['tunws'], v['fastwebsockets']))} | {fmt_ratio(ratio(v['tunws'], best_peer(v)))} | "
                     f"{lat['tunws']} | {lat['tungstenite']} | "
                     + " | ".join(" / ".join(fmt(get(med, "connect", lbl, sv, k)) for sv in SERVERS)
                                  for k in ("server_cpu_us_per_msg", "server_cpu_util", "loadgen_cpu_util")) + " |")
    lines.append("")


def counts_table(med, lines):
    labels = sorted({lbl for (sec, lbl, _) in med if sec == "counts"},
                    key=lambda l: (l.startswith("connect"), int(l.split("c=")[1].split()[0]), l))
    if not labels:
        return
    lines += ["## System calls and packets per message (per connection for connect; median)", "",
              "Counted on the server process: system calls by tracepoint (`perf stat -p`), packets by the "
              "interface counters (the TUN for tunws, the peer's veth end for the others), over the "
              "measured window.", "",
              "| cell | server | syscalls | reads | writes | waits | context switches | packets in | packets out | msgs/s | server CPU util | loadgen CPU util |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for lbl in labels:
        for sv in SERVERS:
            g = lambda k: get(med, "counts", lbl, sv, k)
            if g("msgs_per_s") is None:
                continue
            lines.append(f"| {lbl} | {SHORT[sv]} | " + " | ".join(
                fmt(g(k), 2) for k in ("syscalls_per_msg", "reads_per_msg", "writes_per_msg", "waits_per_msg",
                                       "context_switches_per_msg", "packets_in_per_msg", "packets_out_per_msg"))
                + f" | {fmt(g('msgs_per_s'))} | {fmt(g('server_cpu_util'))} | {fmt(g('loadgen_cpu_util'))} |")
    lines.append("")


def bulk_table(med, lines):
    labels = sorted({lbl for (sec, lbl, _) in med if sec == "bulk"},
                    key=lambda l: (int(l.split("mtu=")[-1]), l))
    if not labels:
        return
    lines += ["## TCP bulk, MiB/s (median); send = kernel → server, recv = server → kernel", "",
              "| direction | MTU | tunbulk (userspace stack over TUN) | kernel ↔ kernel (veth) | ratio |",
              "|---|---:|---:|---:|---:|"]
    for lbl in labels:
        direction, mtu = lbl.split(" mtu=")
        t = get(med, "bulk", lbl, "tunws", "mib_per_s")
        k = get(med, "bulk", lbl, "kernel", "mib_per_s")
        lines.append(f"| {direction} | {mtu} | {fmt(t)} | {fmt(k)} | {fmt_ratio(ratio(t, k))} |")
    lines.append("")


def scale_rows(med):
    ns = sorted({int(m["idle"]) for (sec, _, _), m in med.items() if sec == "scale" and "idle" in m})
    return ns, (lambda n, sv, k: get(med, "scale", f"scale idle={n}", sv, k))


def scale_table(med, lines):
    ns, g = scale_rows(med)
    if not ns:
        return
    lines += ["## Scale: echo latency of one active connection beside N idle ones (p50 / p99 µs, median)", "",
              "| idle N | tunws | tokio-tungstenite | fastwebsockets | tunws p50 ÷ tunws p50 at N=" + str(ns[0]) + " |",
              "|---:|---|---|---|---:|"]
    base = g(ns[0], "tunws", "p50_us")
    for n in ns:
        row = [f"{fmt(g(n, sv, 'p50_us'))} / {fmt(g(n, sv, 'p99_us'))}" for sv in SERVERS]
        lines.append(f"| {n} | " + " | ".join(row) + f" | {fmt_ratio(ratio(g(n, 'tunws', 'p50_us'), base))} |")
    lines += ["", "Server RSS growth per idle connection (bytes; VmRSS after opening N idle minus before):", "",
              "| idle N | tunws | tokio-tungstenite | fastwebsockets |", "|---:|---:|---:|---:|"]
    for n in ns:
        lines.append(f"| {n} | " + " | ".join(fmt(g(n, sv, "rss_bytes_per_idle"), 0) for sv in SERVERS) + " |")
    lines.append("")


SIO_SERVERS = ["tunws", "node", "socketioxide"]


def sio_tables(med, lines):
    """Socket.IO cells (bench.sh --only sio): tunws vs Node's socket.io vs socketioxide."""
    labels = {lbl for (sec, lbl, _) in med if sec == "sio"}
    if not labels:
        return
    def g(lbl, sv, k):
        return get(med, "sio", lbl, sv, k)
    lines += ["## Socket.IO (WebSocket transport, the chat's handlers on every server; median)", "",
              "| cell | tunws | Node socket.io | socketioxide | tunws ÷ Node | tunws ÷ socketioxide | server CPU util (tunws / Node / sxd) | generator CPU util (same runs) |",
              "|---|---:|---:|---:|---:|---:|---|---|"]
    for lbl in sorted(l for l in labels if " idle " not in l):
        v = {sv: g(lbl, sv, "msgs_per_s") for sv in SIO_SERVERS}
        unit = "acks/s" if " ack " in lbl else "deliveries/s"
        lines.append(f"| {lbl.removeprefix('sio ')} ({unit}) | {fmt(v['tunws'])} | {fmt(v['node'])} | {fmt(v['socketioxide'])} | "
                     f"{fmt_ratio(ratio(v['tunws'], v['node']))} | {fmt_ratio(ratio(v['tunws'], v['socketioxide']))} | "
                     + " / ".join(fmt(g(lbl, sv, "server_cpu_util")) for sv in SIO_SERVERS) + " | "
                     + " / ".join(fmt(g(lbl, sv, "loadgen_cpu_util")) for sv in SIO_SERVERS) + " |")
    for lbl in sorted(l for l in labels if " idle " in l):
        v = {sv: g(lbl, sv, "rss_bytes_per_session") for sv in SIO_SERVERS}
        lines.append(f"| {lbl.removeprefix('sio ')} (RSS bytes per session) | {fmt(v['tunws'], 0)} | {fmt(v['node'], 0)} | "
                     f"{fmt(v['socketioxide'], 0)} | {fmt_ratio(ratio(v['node'], v['tunws']))} smaller | "
                     f"{fmt_ratio(ratio(v['socketioxide'], v['tunws']))} smaller | – | – |")
    lines += ["", "Server CPU per ack or delivery in µs (utime+stime / count; steadier than the rates on a shared machine):", "",
              "| cell | tunws | Node socket.io | socketioxide | tunws ÷ Node | tunws ÷ socketioxide |", "|---|---:|---:|---:|---:|---:|"]
    for lbl in sorted(l for l in labels if " idle " not in l):
        v = {sv: g(lbl, sv, "server_cpu_us_per_msg") for sv in SIO_SERVERS}
        lines.append(f"| {lbl.removeprefix('sio ')} | {fmt(v['tunws'])} | {fmt(v['node'])} | {fmt(v['socketioxide'])} | "
                     f"{fmt_ratio(ratio(v['tunws'], v['node']))} | {fmt_ratio(ratio(v['tunws'], v['socketioxide']))} |")
    lines += ["", "Server packets out / in per ack or delivery (interface counters over the measured window; "
              "the TUN for tunws, the clients' veth end for the others):", "",
              "| cell | tunws | Node socket.io | socketioxide |", "|---|---:|---:|---:|"]
    for lbl in sorted(l for l in labels if " idle " not in l):
        lines.append(f"| {lbl.removeprefix('sio ')} | " + " | ".join(
            " / ".join(fmt(g(lbl, sv, k), 3) for k in ("server_packets_out_per_msg", "server_packets_in_per_msg"))
            for sv in SIO_SERVERS) + " |")
    acks = sorted(l for l in labels if " ack " in l)
    if acks:
        lines += ["", "Emit+ack round trip p50 / p99 in µs: " + "; ".join(
            f"{sv} " + " / ".join(fmt(g(lbl, sv, k)) for k in ("p50_us", "p99_us"))
            for lbl in acks for sv in SIO_SERVERS)]
    lines += ["", "CPU util is CPU-seconds per second of the measured window (1.00 = one core busy); "
              "the generator runs on the other core.", ""]


def sio_targets(med):
    rows = []
    for lbl in sorted({l for (sec, l, _) in med if sec == "sio"}):
        if " idle " in lbl:
            m = get(med, "sio", lbl, "tunws", "rss_bytes_per_session")
            rows.append((f"Socket.IO memory per idle session ≤ 16 KiB ({lbl.removeprefix('sio ')})", f"{fmt(m, 0)} B",
                         verdict(None if m is None else m <= 16 * 1024)))
            continue
        t = get(med, "sio", lbl, "tunws", "msgs_per_s")
        for peer, need in (("node", 3.0), ("socketioxide", 1.0)):
            r = ratio(t, get(med, "sio", lbl, peer, "msgs_per_s"))
            rows.append((f"Socket.IO {lbl.removeprefix('sio ')} ≥ {need:.0f}× {peer}", fmt_ratio(r),
                         verdict(None if r is None else r >= need)))
    return rows


def verdict(ok):
    return "–" if ok is None else ("**met**" if ok else "**not met**")


def targets(med, lines):
    rows = []
    lbl = "echo c=100 s=32"
    r = ratio(get(med, "echo", lbl, "tunws", "msgs_per_s"), get(med, "echo", lbl, "tungstenite", "msgs_per_s"))
    rows.append(("echo msgs/s at C=100, 32 B ≥ 1.0× tokio-tungstenite", fmt_ratio(r), verdict(None if r is None else r >= 1.0)))
    a, b = get(med, "echo", lbl, "tunws", "server_cpu_us_per_msg"), get(med, "echo", lbl, "fastwebsockets", "server_cpu_us_per_msg")
    r = ratio(a, b)
    rows.append(("server CPU/msg at C=100, 32 B ≤ fastwebsockets'", f"{fmt(a)} vs {fmt(b)} µs ({fmt_ratio(r)})",
                 verdict(None if r is None else r <= 1.0)))
    lbls = sorted({l for (sec, l, _) in med if sec == "connect"})
    if lbls:
        r = ratio(get(med, "connect", lbls[0], "tunws", "msgs_per_s"), get(med, "connect", lbls[0], "tungstenite", "msgs_per_s"))
        rows.append(("connections/s ≥ 1.0× tokio-tungstenite", fmt_ratio(r), verdict(None if r is None else r >= 1.0)))
    for d in ("send", "recv"):
        l = f"{d} mtu=65000"
        r = ratio(get(med, "bulk", l, "tunws", "mib_per_s"), get(med, "bulk", l, "kernel", "mib_per_s"))
        rows.append((f"TCP bulk {d} at MTU 65000 ≥ 1.0× kernel↔kernel", fmt_ratio(r), verdict(None if r is None else r >= 1.0)))
    ns, g = scale_rows(med)
    if ns:
        r = ratio(g(ns[-1], "tunws", "p50_us"), g(ns[0], "tunws", "p50_us"))
        rows.append((f"echo latency (p50) with {ns[-1]} idle ≤ 2× with {ns[0]}", fmt_ratio(r),
                     verdict(None if r is None or ns[-1] < 10000 else r <= 2.0)))
        m = g(ns[-1], "tunws", "rss_bytes_per_idle")
        rows.append(("memory ≤ 12 KiB per idle connection", f"{fmt(m, 0)} B at N={ns[-1]}",
                     verdict(None if m is None else m <= 12 * 1024)))
    rows += sio_targets(med)
    lines += ["## Targets (issues 5 and 12)", "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in rows]
    lines.append("")


def failures(med, lines):
    bad = [(k, m) for k, m in med.items() if m.get("failed") or m.get("errors")]
    if bad:
        lines += ["## Runs with failures or errors", "", "| section | label | server | failed runs | errors (median) |",
                  "|---|---|---|---:|---:|"]
        for (sec, lbl, sv), m in sorted(bad, key=lambda x: tuple(map(str, x[0]))):
            lines.append(f"| {sec} | {lbl} | {sv} | {m['failed']} | {fmt(m.get('errors'), 0)} |")
        lines.append("")


def loadgen_report(args):
    path = args[0]
    machine = summary = None
    i = 1
    while i < len(args):
        if args[i] == "--machine":
            machine, i = args[i + 1], i + 2
        elif args[i] == "--summary":
            summary, i = args[i + 1], i + 2
        else:
            sys.exit(f"report.py: unknown argument {args[i]}")
    med = medians(load(path))
    lines = ["# tunws benchmark run", ""]
    if machine and os.path.exists(machine):
        lines += ["```", open(machine).read().strip(), "```", ""]
    rounds = max((m["n"] + m["failed"] for m in med.values()), default=0)
    lines += [f"Medians over up to {rounds} interleaved rounds; ratios are tunws ÷ peer (higher is better "
              "for throughput, lower for CPU and latency).", ""]
    targets(med, lines)
    echo_tables(med, lines)
    connect_table(med, lines)
    loss_table(med, lines)
    counts_table(med, lines)
    bulk_table(med, lines)
    scale_table(med, lines)
    sio_tables(med, lines)
    failures(med, lines)
    print("\n".join(lines))
    if summary:
        with open(summary, "w") as f:
            json.dump([dict(section=k[0], label=k[1], server=k[2], **v) for k, v in sorted(med.items(), key=lambda x: tuple(map(str, x[0])))],
                      f, indent=1)


LIBS = ["ws", "ws-in-place", "tungstenite", "fastwebsockets", "memcpy"]


def criterion_report(args):
    root = args[0] if args else "target/criterion"
    data = defaultdict(dict)  # (group, value) -> {function: (ns, bytes)}
    for dirpath, _, files in os.walk(root):
        if "benchmark.json" in files and os.path.basename(dirpath) == "new":
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                b = json.load(f)
            with open(os.path.join(dirpath, "estimates.json")) as f:
                e = json.load(f)
            tp = b.get("throughput") or {}
            nbytes = tp.get("Bytes") or tp.get("BytesDecimal")
            data[(b["group_id"], b.get("value_str") or "")][b.get("function_id") or ""] = (
                e["median"]["point_estimate"], nbytes)
    if not data:
        sys.exit(f"report.py: no criterion results under {root} (run: cargo bench -p ws)")
    lines = ["## ws micro-benchmarks (criterion medians; time per iteration, throughput in GiB/s)", "",
             "| benchmark | size | ws | ws in place (decode) | tungstenite | fastwebsockets | memcpy | ws speedup vs tungstenite | vs fastwebsockets | ws ÷ memcpy time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def cell(v):
        if v is None:
            return "n/a"
        ns, nbytes = v
        t = f"{ns / 1000:,.2f} µs" if ns >= 1000 else f"{ns:,.1f} ns"
        if nbytes:
            t += f" ({nbytes / ns * 1e9 / 2**30:,.2f} GiB/s)"
        return t

    def key(k):
        g, v = k
        try:
            return (g, int(v))
        except ValueError:
            return (g, 0)

    for (g, v) in sorted(data, key=key):
        fns = data[(g, v)]
        t = {lib: fns.get(lib) for lib in LIBS}
        sp = lambda other: fmt_ratio(ratio(t[other][0], t["ws"][0])) if t["ws"] and t[other] else "–"
        mc = fmt_ratio(ratio(t["ws"][0], t["memcpy"][0])) if t["ws"] and t["memcpy"] else "–"
        size = size_name(v) if v.isdigit() else v
        lines.append(f"| {g} | {size} | " + " | ".join(cell(t[l]) for l in LIBS) +
                     f" | {sp('tungstenite')} | {sp('fastwebsockets')} | {mc} |")
    print("\n".join(lines))


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("loadgen", "criterion"):
        sys.exit(__doc__)
    if sys.argv[1] == "loadgen":
        if len(sys.argv) < 3:
            sys.exit(__doc__)
        loadgen_report(sys.argv[2:])
    else:
        criterion_report(sys.argv[2:])


if __name__ == "__main__":
    main()
