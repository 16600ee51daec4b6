"""python-socketio's client (PyPI, pinned in requirements.txt) against tunws's /socket.io/ chat,
with its default transports (polling, then the upgrade to WebSocket) and with websocket only:
three named clients, a broadcast all three receive, rooms (join with an ack, a room message only
the room's members get), then a restart of tunws that two clients survive by reconnecting by
themselves. The restart is driven by tests/tests/socketio.rs through files in
TUNWS_RESTART_DIR: we create `ready` once connected, it restarts tunws and creates `restarted`.
Prints one line per check; exits non-zero on the first failure."""

import os
import sys
import threading
import time

import socketio

URL = os.environ.get("TUNWS_URL", "http://10.0.0.2:8080")
RESTART_DIR = os.environ["TUNWS_RESTART_DIR"]


def until(what, condition, timeout=10):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


class ChatClient:
    """One named client and the chat messages it received."""

    def __init__(self, name, transports):
        self.messages = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("chat message", lambda *args: self.messages.append(list(args)))
        self.client.connect(URL, transports=transports, auth={"name": name}, wait_timeout=10)


def rooms_and_broadcast(transports):
    label = "+".join(transports)
    a, b, c = (ChatClient(name, transports) for name in "abc")
    a.client.emit("chat message", "hello all")
    until("3 deliveries", lambda: all(len(x.messages) == 1 for x in (a, b, c)))
    for x in (a, b, c):
        assert x.messages[0] == ["hello all", "a"], x.messages
    for x in (b, c):
        x.client.call("join", "red", timeout=5)
    a.client.emit("room message", ("red", "to red"))
    until("room deliveries", lambda: len(b.messages) == 2 and len(c.messages) == 2)
    for x in (b, c):
        assert x.messages[1] == ["to red", "a"], x.messages
    time.sleep(0.2)
    assert len(a.messages) == 1, f"a is not in room red: {a.messages}"
    for x in (a, b, c):
        x.client.disconnect()
    print(f"python-socketio {label}: broadcast to 3 clients, room message to its 2 members only")


def restart_and_reconnect():
    clients = []
    connects = []
    for transports in (["polling", "websocket"], ["websocket"]):
        client = socketio.Client(reconnection_delay=0.1, reconnection_delay_max=0.5)
        count = [0]
        event = threading.Event()

        def on_connect(count=count, event=event):
            count[0] += 1
            if count[0] == 2:
                event.set()

        client.on("connect", on_connect)
        client.connect(URL, transports=transports, wait_timeout=10)
        clients.append(client)
        connects.append(event)
    until("the upgrade", lambda: clients[0].transport() == "websocket", timeout=5)
    open(os.path.join(RESTART_DIR, "ready"), "w").close()
    for event in connects:
        assert event.wait(30), "a client did not reconnect within 30 s"
    assert os.path.exists(os.path.join(RESTART_DIR, "restarted")), "tunws was not restarted"
    for client in clients:
        assert client.call("ping", timeout=5) is None
        client.disconnect()
    print("python-socketio: tunws restarted, both clients reconnected by themselves")


def main():
    for transports in (["polling", "websocket"], ["websocket"]):
        rooms_and_broadcast(transports)
    restart_and_reconnect()
    print("python-socketio chat: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        print(f"python-socketio chat: FAILED: {error}", file=sys.stderr)
        sys.exit(1)
