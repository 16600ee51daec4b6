"""Python websockets (PyPI, pinned in requirements.txt) as a client of `tunws --deflate` /echo,
with permessage-deflate on: once with the library's default offer, once with a strict one
(both no_context_takeover parameters, server_max_window_bits=9, client_max_window_bits=10).
For each: the extension was negotiated (the 101's Sec-WebSocket-Extensions), and the checks of
echo_checks.py pass (every message back byte-exact with its type, the 1 MiB chat text
compressed on the wire by tunws).
Prints one line per check; exits non-zero on the first failure.
Run inside the namespace where tunws answers (tests/tests/interop.rs does)."""

import asyncio
import os
import sys

from websockets.asyncio.client import ClientConnection, connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from echo_checks import check_echoes, counting

URL = os.environ.get("TUNWS_URL", "ws://10.0.0.2:8080/echo")


OFFERS = {
    "default offer": dict(compression="deflate"),
    "strict offer": dict(
        compression=None,
        extensions=[
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=9,
                client_max_window_bits=10,
            )
        ],
    ),
}
STRICT_ANSWER = ("server_no_context_takeover", "client_no_context_takeover",
                 "server_max_window_bits=9", "client_max_window_bits=10")


async def check(name, options, seed):
    async with connect(URL, max_size=None, create_connection=counting(ClientConnection),
                       open_timeout=20, **options) as ws:
        answer = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert answer.startswith("permessage-deflate"), f"{name}: not negotiated: {answer!r}"
        if name == "strict offer":
            for param in STRICT_ANSWER:
                assert param in answer, f"{name}: {param} missing from {answer!r}"
        print(f"{name}: negotiated {answer!r}")
        await check_echoes(ws, name, seed)


async def main():
    for seed, (name, options) in enumerate(OFFERS.items()):
        await check(name, options, seed)
    print("all checks passed")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
