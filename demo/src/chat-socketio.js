// The chat page's transport switch (#transport) and its Socket.IO mode. Loaded before the
// page's own script, which runs the raw WebSocket mode unless window.tunwsTransport is
// "socketio". The choice is kept in localStorage and applied by reloading the page.
//
// Socket.IO mode uses the client tunws serves at /socket.io/socket.io.js when started with
// --socketio-client PATH (the project carries no Socket.IO client code: `npm install
// socket.io-client`, then PATH is node_modules/socket.io-client/dist/socket.io.min.js). It keeps
// the page's DOM contract: #status reads "open" once connected, #msg/#send send a
// `chat message`, each received one is a .msg in #log; `user joined` / `user left` are notes,
// and an ack'd `ping` every 5 s shows the latency.
"use strict";
window.tunwsTransport = localStorage.getItem("tunws-transport") === "socketio" ? "socketio" : "websocket";

document.addEventListener("DOMContentLoaded", function () {
  const select = document.getElementById("transport");
  select.value = window.tunwsTransport;
  select.addEventListener("change", function () {
    localStorage.setItem("tunws-transport", select.value);
    location.reload();
  });
  if (window.tunwsTransport !== "socketio") return;

  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const dot = document.getElementById("dot");
  const input = document.getElementById("msg");
  const send = document.getElementById("send");
  document.getElementById("url").textContent = location.origin + "/socket.io/";
  const latency = document.createElement("span");
  latency.id = "latency";
  status.after(latency);

  function setStatus(text) {
    status.textContent = text;
    dot.className = "dot" + (text === "open" ? " open" : text === "closed" ? " closed" : "");
    send.disabled = text !== "open";
  }

  function append(cls, text) {
    const el = document.createElement("div");
    el.className = cls;
    el.textContent = text;
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
  }

  const name = localStorage.getItem("tunws-name") || "guest-" + Math.floor(Math.random() * 10000);
  localStorage.setItem("tunws-name", name);
  setStatus("connecting");
  const client = document.createElement("script");
  client.src = "/socket.io/socket.io.js";
  client.onerror = function () {
    setStatus("closed");
    append("note", "no Socket.IO client at /socket.io/socket.io.js: run `npm install socket.io-client` and start tunws with --socketio-client node_modules/socket.io-client/dist/socket.io.min.js");
  };
  client.onload = function () {
    const socket = window.io({ auth: { name: name } });
    socket.on("connect", function () {
      setStatus("open");
      const transport = socket.io.engine.transport.name;
      append("note", "connected to " + location.origin + "/socket.io/ as " + name + " over " + transport);
      // The upgrade may have finished before the connection to the namespace did.
      if (transport !== "websocket") {
        socket.io.engine.once("upgrade", function (upgraded) {
          append("note", "upgraded to " + upgraded.name);
        });
      }
    });
    socket.on("disconnect", function (reason) {
      setStatus("closed");
      append("note", "disconnected (" + reason + "), reconnecting");
    });
    socket.on("chat message", function (text, from) {
      append("msg", (from ? from + ": " : "") + text);
    });
    socket.on("user joined", function (who) {
      append("note", who.name + " joined (" + who.count + " here)");
    });
    socket.on("user left", function (who) {
      append("note", who.name + " left (" + who.count + " here)");
    });
    setInterval(function () {
      if (!socket.connected) return;
      const started = performance.now();
      socket.timeout(5000).emit("ping", function (err) {
        latency.textContent = err ? " (no ping answer)" : " (" + (performance.now() - started).toFixed(1) + " ms)";
      });
    }, 5000);
    document.getElementById("form").addEventListener("submit", function (event) {
      event.preventDefault();
      const text = input.value;
      if (text === "" || !socket.connected) return;
      socket.emit("chat message", text);
      input.value = "";
      input.focus();
    });
  };
  document.head.appendChild(client);
});
