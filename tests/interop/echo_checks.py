"""What both Python peers of tests/tests/interop.rs check on a connection with tunws.

The messages: every size of SIZES, as text and as binary, compressible (chat-like lines) and
incompressible (random), so that each side's compressor meets long matches, no matches,
stored blocks and the frame length forms (7-bit, 16-bit and 64-bit lengths on both sides of
125/126 and 65535/65536). The Node client (ws_echo.mjs) builds the same kinds of message."""

import asyncio
import random

SIZES = (1, 125, 126, 65535, 65536, 1 << 20)


def chat_text(size, seed):
    """`size` bytes of ASCII chat lines: what compresses well."""
    lines = []
    length = 0
    i = 0
    while length < size:
        line = f"user{(seed + i) % 17}: message {i} about the lab, see you at {i % 24:02}:00\n"
        lines.append(line)
        length += len(line)
        i += 1
    return "".join(lines)[:size]


def random_text(size, rng):
    """Valid UTF-8 of exactly `size` bytes from random code points (1 to 4 bytes each)."""
    chars = []
    length = 0
    while length < size:
        c = chr(rng.choice((rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0x800),
                            rng.randrange(0x800, 0xD800), rng.randrange(0x10000, 0x110000))))
        n = len(c.encode())
        if length + n > size:
            c, n = "x", 1
        chars.append(c)
        length += n
    return "".join(chars)


def messages(seed):
    """(label, message) pairs: str for text messages, bytes for binary ones."""
    rng = random.Random(seed)
    out = []
    for size in SIZES:
        out.append((f"text {size} B compressible", chat_text(size, seed)))
        out.append((f"text {size} B random", random_text(size, rng)))
        out.append((f"binary {size} B compressible", chat_text(size, seed + 1).encode()))
        out.append((f"binary {size} B random", rng.randbytes(size)))
    for label, message in out:
        encoded = message.encode() if isinstance(message, str) else message
        assert len(encoded) == int(label.split()[1]), label
    return out


def counting(connection_class):
    """`connection_class` (a websockets connection) counting the bytes read from its socket in
    `received`, to see what crossed the wire."""

    class Counting(connection_class):
        received = 0

        def data_received(self, data):
            self.received += len(data)
            super().data_received(data)

    return Counting


async def check_echoes(ws, name, seed):
    """Sends every message of `messages(seed)` on `ws` and checks that each comes back
    byte-exact with its type, and that the 1 MiB chat text came back in less than half its
    size on the wire (compressed by tunws). `ws` is a connection of a `counting` class."""
    for label, message in messages(seed):
        before = ws.received
        await ws.send(message)
        echoed = await asyncio.wait_for(ws.recv(), 30)
        assert type(echoed) is type(message), f"{name}: {label} came back as {type(echoed)}"
        assert echoed == message, f"{name}: {label} came back different"
        if label == f"text {1 << 20} B compressible":
            wire = ws.received - before
            assert wire < len(message) // 2, f"{name}: {label} took {wire} B on the wire"
            print(f"{name}: {label} echoed in {wire} B on the wire")
    print(f"{name}: {len(messages(seed))} messages echoed byte-exact")
