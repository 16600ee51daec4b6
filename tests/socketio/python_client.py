"""python-socketio's client (PyPI, pinned in requirements.txt) against tunws --socketio-test,
with its default transports (polling, then the upgrade to WebSocket) and with websocket only:
connect with auth, the auth event, an ack'd event, a binary round trip byte-exact, three
heartbeat intervals survived, and the transport it ends on. Prints one line per check; exits non-zero on the first failure.
Run inside the namespace where tunws answers (tests/tests/socketio.rs does)."""

import os
import sys
import threading
import time

import socketio

URL = os.environ.get("TUNWS_URL", "http://10.0.0.2:8080")


def check(transports):
    label = "+".join(transports)
    client = socketio.Client(reconnection=False)
    auth_seen = threading.Event()
    auth_value = {}

    @client.on("auth")
    def on_auth(data):
        auth_value.update(data)
        auth_seen.set()

    client.connect(URL, transports=transports, auth={"token": "py"}, wait_timeout=10)
    assert auth_seen.wait(5), "no auth event"
    assert auth_value == {"token": "py"}, auth_value
    answer = client.call("message-with-ack", (1, "2", {"3": [False]}), timeout=5)
    assert answer == (1, "2", {"3": [False]}), answer
    payload = bytes(range(256)) * 4
    echoed = client.call("message-with-ack", payload, timeout=5)
    assert echoed == payload, "binary round trip differs"
    # Three heartbeat intervals (300 ms each in the test mode): the session lives on.
    time.sleep(1.0)
    assert client.connected, "disconnected during the heartbeat intervals"
    assert client.call("message-with-ack", "still here", timeout=5) == "still here"
    # Give the upgrade from polling time to finish, then see where the session runs.
    deadline = time.time() + 5
    while client.transport() != transports[-1] and time.time() < deadline:
        time.sleep(0.05)
    assert client.transport() == transports[-1], client.transport()
    client.disconnect()
    print(f"python-socketio {label}: auth, ack, binary {len(payload)} B byte-exact, 3 heartbeats, ended on {transports[-1]}")


def main():
    for transports in (["polling", "websocket"], ["websocket"]):
        check(transports)
    print("python-socketio: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"python-socketio: FAILED: {error}", file=sys.stderr)
        sys.exit(1)
