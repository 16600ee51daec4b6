"""Python websockets (PyPI, pinned in requirements.txt) as the server `tunws client --deflate
--echo` connects to, with permessage-deflate on: `default` is the library's server default
(server_max_window_bits=12, client_max_window_bits=12), `strict` adds both no_context_takeover
parameters with 9-bit windows both ways. For the one connection it takes: tunws offered the
extension and the answer agreed it, and the checks of echo_checks.py pass (every message back
byte-exact with its type, the 1 MiB chat text compressed on the wire by tunws's compressor in
the client role, at the window the server allowed). Then it closes with 1000 and exits: 0 when every
check passed. Prints `listening` once it accepts connections.

    python websockets_server.py default|strict HOST PORT"""

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from echo_checks import check_echoes, counting


FACTORIES = {
    "default": dict(compression="deflate"),
    "strict": dict(
        compression=None,
        extensions=[
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=9,
                client_max_window_bits=9,
            )
        ],
    ),
}


async def main(variant, host, port):
    done = asyncio.get_running_loop().create_future()

    async def echo_checks(ws):
        try:
            offer = ws.request.headers.get("Sec-WebSocket-Extensions", "")
            answer = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert offer.startswith("permessage-deflate"), f"tunws offered {offer!r}"
            assert answer.startswith("permessage-deflate"), f"not negotiated: {answer!r}"
            print(f"{variant}: tunws offered {offer!r}, agreed {answer!r}")
            await check_echoes(ws, variant, 7)
            await ws.close(1000)
            done.set_result(None)
        except Exception as e:
            done.set_exception(e)
            await ws.close(1011)

    async with serve(echo_checks, host, port, max_size=None,
                     create_connection=counting(ServerConnection), **FACTORIES[variant]):
        print("listening", flush=True)
        await asyncio.wait_for(done, 120)
    print("all checks passed")


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    except Exception as e:
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
