// Bench peer: Node's reference Socket.IO server (socket.io, pinned in package-lock.json) with the
// handlers of tunws's /socket.io/ chat (demo/src/socketio_chat.rs), so that scripts/bench.sh
// --only sio measures the same work on every server: presence (`user joined` / `user left` with
// the count, to everyone), `chat message` to everyone (`io.emit`), an acknowledged `ping`.
//
//   node server.js HOST:PORT      prints "listening on HOST:PORT" once bound
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");

const [host, port] = (process.argv[2] || "127.0.0.1:9003").split(":");
const MAX_NAME = 32;
const MAX_TEXT = 64 * 1024;

const httpServer = http.createServer();
const io = new Server(httpServer);
let count = 0;

io.on("connection", (socket) => {
  const raw = socket.handshake.auth && socket.handshake.auth.name;
  const name = (typeof raw === "string" && [...raw.trim()].slice(0, MAX_NAME).join("")) || "anonymous";
  count += 1;
  io.emit("user joined", { name, count });
  socket.on("chat message", (text) => {
    if (typeof text === "string" && Buffer.byteLength(text) <= MAX_TEXT) {
      io.emit("chat message", text, name);
    }
  });
  socket.on("ping", (ack) => {
    if (typeof ack === "function") ack();
  });
  socket.on("disconnect", () => {
    count -= 1;
    io.emit("user left", { name, count });
  });
});

httpServer.listen(Number(port), host, () => {
  console.log(`listening on ${host}:${port}`);
});
