#!/usr/bin/env python3
"""Goodput of tunws's /echo against packet loss: lab 6's measurement.

For each loss rate, starts `tunws --no-offload --stats --loss P` on the TUN device (which must
exist, with the kernel side 10.0.0.1/24 up, as the labs set it), sends one binary WebSocket
message of --bytes to /echo per round and reads the echo back whole, then reads tunws's
/stats counters and stops it. Goodput is the message size over the time from the first byte
sent to the last byte of the echo received: what the application gets, every resend and
header excluded. Prints one line per round and tunws's resend counters per loss rate (totals
over its rounds), and writes both as CSV (--csv) for plot.py.

    goodput.py --loss 0,1,2,5,10 --bytes 1048576 --rounds 3 --csv goodput.csv
    goodput.py --label "smoltcp alone" --csv alone.csv -- --no-recovery

Arguments after `--` go to tunws. Only the standard library: runs wherever the labs run.
"""

import argparse
import base64
import csv
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

SERVER = ("10.0.0.2", 8080)
# /stats counters written to the CSV (docs/SECURITY.md describes them).
COUNTERS = ["sack_repairs", "fast_retransmits", "tail_probes", "recovery_timeouts",
            "stack_retransmits", "dup_acks_absorbed", "dropped"]


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 1 << 20))
        if not chunk:
            raise EOFError("tunws closed the connection")
        data += chunk
    return bytes(data)


def connect(timeout):
    """A WebSocket to /echo (RFC 6455 §4.1); returns the socket after the 101."""
    sock = socket.create_connection(SERVER, timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET /echo HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += recv_exact(sock, 1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"no upgrade: {head.splitlines()[0]!r}")
    return sock


def masked_frame(opcode, payload):
    """One final client frame, masked (§5.3); the XOR done on big integers to stay fast."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = (key * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
    return head + key + body


def read_echo(sock, n):
    """Reads data frames until n payload bytes came back (/echo may fragment its answer)."""
    got = bytearray()
    while len(got) < n:
        b0, b1 = recv_exact(sock, 2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", recv_exact(sock, 2))[0]
        elif length == 127:
            length = struct.unpack("!Q", recv_exact(sock, 8))[0]
        payload = recv_exact(sock, length)
        if b0 & 0x0F in (0x0, 0x2):
            got += payload
        elif b0 & 0x0F == 0x8:
            raise RuntimeError(f"tunws closed the WebSocket: {payload!r}")
    return bytes(got)


def round_trip(payload, timeout):
    """Seconds for one message of payload to go to /echo and come back whole."""
    sock = connect(timeout)
    try:
        frame = masked_frame(0x2, payload)
        started = time.perf_counter()
        sock.sendall(frame)
        echo = read_echo(sock, len(payload))
        seconds = time.perf_counter() - started
        if echo != payload:
            raise RuntimeError("the echo differs from what was sent")
        sock.sendall(masked_frame(0x8, struct.pack("!H", 1000)))
        return seconds
    finally:
        sock.close()


def stats(timeout):
    """tunws's /stats counters (one line of JSON)."""
    with socket.create_connection(SERVER, timeout=timeout) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def start_tunws(loss, seed, extra, log):
    command = ["tunws", "--no-offload", "--stats", "--loss", str(loss), "--loss-seed", str(seed)]
    tunws = subprocess.Popen(command + extra, stdout=subprocess.PIPE, stderr=log, text=True)
    line = tunws.stdout.readline()
    if not line.startswith("listening"):
        tunws.kill()
        raise RuntimeError(f"tunws did not start ({' '.join(command + extra)}): see {log.name}")
    return tunws


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", default="0,1,2,5,10", help="loss rates in %%, comma-separated")
    parser.add_argument("--bytes", type=int, default=1 << 20, help="message size (default 1 MiB)")
    parser.add_argument("--rounds", type=int, default=3, help="messages per loss rate")
    parser.add_argument("--seed", type=int, default=1, help="tunws --loss-seed")
    parser.add_argument("--timeout", type=float, default=60, help="socket timeout, seconds")
    parser.add_argument("--label", default="tunws", help="the series' name in the CSV and plot")
    parser.add_argument("--csv", help="write the rounds to this CSV file")
    parser.add_argument("tunws_args", nargs="*", help="after --: more tunws options")
    args = parser.parse_args()
    rates = [float(r) for r in args.loss.split(",")]
    payload = os.urandom(args.bytes)
    rows = []
    print(f"{'loss %':>6} {'round':>5} {'seconds':>8} {'MiB/s':>8}")
    for rate in rates:
        with open(f"tunws-loss-{rate:g}.log", "w") as log:
            tunws = start_tunws(rate, args.seed, args.tunws_args, log)
            try:
                for n in range(1, args.rounds + 1):
                    seconds = round_trip(payload, args.timeout)
                    rows.append({"label": args.label, "loss": rate, "round": n,
                                 "bytes": args.bytes, "seconds": round(seconds, 6),
                                 "mib_per_s": round(args.bytes / seconds / (1 << 20), 3)})
                counters = stats(args.timeout)
            finally:
                tunws.send_signal(signal.SIGINT)
                tunws.wait(timeout=30)
        for row in rows[-args.rounds:]:
            row.update({c: counters[c] for c in COUNTERS})
            print(f"{rate:6g} {row['round']:5d} {row['seconds']:8.3f} {row['mib_per_s']:8.2f}")
        print(f"{'':6} {'/stats':>5} " + " ".join(f"{c}={counters[c]}" for c in COUNTERS))
    if args.csv:
        with open(args.csv, "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
