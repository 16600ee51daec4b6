#!/usr/bin/env python3
"""A /trace viewer for benchmarks: the load of one chat page with its packet ladder open.

    python3 bench/watcher.py HOST:PORT [TOKEN]

Upgrades to ws://HOST:PORT/trace, sends `watch TOKEN` (a fixed token by default, which no
benchmark connection carries: tunws's default scope then records and scopes every packet but
shows this viewer none; with `tunws --trace-web all` it is sent every event), prints `watching`
once tunws says hello, then reads and discards every message until tunws closes the connection.
Prints the number of event bytes it read at the end. Standard library only.
"""
import base64
import os
import socket
import sys


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    token = sys.argv[2] if len(sys.argv) > 2 else "benchmarkwatcher0000"
    sock = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (f"GET /trace HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit("watcher: connection closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit(f"watcher: upgrade refused: {head.splitlines()[0]!r}")
    # One masked text frame (RFC 6455 §5.3): the command.
    payload = f"watch {token}".encode()
    mask = os.urandom(4)
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask +
                 bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    sock.settimeout(None)
    received = len(head) - head.index(b"\r\n\r\n") - 4
    said = False
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        received += len(chunk)
        if not said and b'"hello"' in chunk:
            print("watching", flush=True)
            said = True
    print(f"read {received} bytes of events", flush=True)


if __name__ == "__main__":
    main()
