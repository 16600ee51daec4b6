// The packet ladder of the chat page: this browser's own TCP segments, HTTP heads and
// WebSocket frames, live, as tunws's stack sees them. Events come from the /trace WebSocket
// (schema: docs/TRACE.md). Plain JS, no build step, no third-party code.
//
// Scoping: the page makes a random token, passes it on every connection it opens (`?t=` on
// /chat and on "load the page again") and sends it on the trace socket (`watch TOKEN`), so
// tunws shows it only its own connections (unless tunws runs with --trace-web all).
// Nothing is recorded while no page watches, so when the panel opens the chat WebSocket is
// reopened: its whole life, from the SYN, is then on the ladder. While the panel is open the
// token is also a cookie, and the panel's state is kept for this tab: a reload reopens the
// panel, and tunws, which kept recording for the token for a few seconds, hands the new page
// what happened meanwhile: the old page's close, the page load with its handshake.
"use strict";
(function () {
  const MAX_ROWS = 5000;     // oldest rows go beyond this
  const ROW_HEIGHT = 24;     // px, fixed: rows are virtualised (only those in view are in the DOM)
  const OVERSCAN = 120;      // rows rendered above and below the viewport
  const COOKIE = "tunws_t";  // stack::watch::TOKEN_COOKIE

  function makeToken() {
    const saved = sessionStorage.getItem("tunws-token");
    if (saved) return saved;
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    const token = btoa(String.fromCharCode.apply(null, bytes))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    sessionStorage.setItem("tunws-token", token);
    return token;
  }

  // The page's own connections carry this; chat.html reads it before opening /chat.
  const api = { token: makeToken(), onWatch: null, lastPcap: null };
  window.tunwsLadder = api;

  let rows = [];             // every row shown: {ev, layer, summary, dir, conn, pkt, notes}
  let packets = new Map();   // pkt -> its tcp event, for the layer-by-layer view
  let tcpRows = new Map();   // pkt -> its tcp row, for drop and state annotations
  let t0 = null;
  let lost = 0;
  let socket = null;
  let open = false;
  let selected = null;
  let els = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function build() {
    const root = document.getElementById("ladder");
    root.textContent = "";
    const bar = el("div", "ladder-bar");
    const status = el("span", "ladder-status", "connecting to /trace…");
    const again = el("button", "", "Load the page again");
    again.type = "button";
    again.id = "ladder-again";
    again.title = "GET / on a connection of its own, to watch a page load";
    again.addEventListener("click", function () {
      fetch("/?t=" + encodeURIComponent(api.token), { cache: "no-store" }).catch(function () {});
    });
    const exportBtn = el("button", "", "Export pcap");
    exportBtn.type = "button";
    exportBtn.id = "ladder-export";
    exportBtn.title = "The packets shown, as tunws's stack saw them, for Wireshark";
    exportBtn.addEventListener("click", function () {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send("pcap");
    });
    const clear = el("button", "", "Clear");
    clear.type = "button";
    clear.addEventListener("click", function () { reset(); render(); });
    bar.append(status, again, exportBtn, clear);

    const heads = el("div", "ladder-heads");
    const lanes = el("span", "ladder-lanes");
    lanes.append(el("span", "", "this browser"), el("span", "", "tunws"));
    heads.append(el("span", "ladder-time", "ms"), el("span", "ladder-conn", "conn"), lanes,
      el("span", "", "TCP state"));
    const view = el("div", "ladder-view");
    const spacer = el("div", "ladder-spacer");
    const list = el("div", "ladder-list");
    spacer.appendChild(list);
    view.appendChild(spacer);
    view.addEventListener("scroll", function () { render(); });
    list.addEventListener("click", function (e) {
      const row = e.target.closest(".row");
      if (!row) return;
      selected = rows[Number(row.dataset.index) - first()] || null;
      render();
      showDetail();
    });
    const detail = el("div", "ladder-detail");
    detail.id = "ladder-detail";
    detail.textContent = "Click a row to see its packet layer by layer.";
    root.append(bar, heads, view, detail);
    els = { root, status, view, spacer, list, detail };
  }

  // Rows are numbered from the first ever added, so indices stay valid when old ones go.
  let dropped = 0;
  function first() { return dropped; }

  function reset() {
    rows = []; packets = new Map(); tcpRows = new Map(); t0 = null; lost = 0; dropped = 0;
    selected = null;
    if (els) els.detail.textContent = "Click a row to see its packet layer by layer.";
  }

  function tcpSummary(ev) {
    let s = ev.flags.join(",") + " seq=" + ev.seq;
    if (ev.ack !== undefined) s += " ack=" + ev.ack;
    s += " win=" + ev.win + " len=" + ev.len;
    const o = ev.opts || {};
    if (o.mss !== undefined) s += " mss=" + o.mss;
    if (o.wscale !== undefined) s += " wscale=" + o.wscale;
    if (o.sack_perm) s += " sack_perm";
    if (o.sack) s += " sack=" + o.sack.map(function (b) { return b[0] + "-" + b[1]; }).join(",");
    if (ev.retrans) s += " retransmission";
    if (ev.dropped) s += " dropped on the way in (impairment)";
    return s;
  }

  function printable(text) {
    return text.replace(/[\u0000-\u001f\u007f]/g, "·");
  }

  function wsSummary(ev) {
    let s = ev.op + (ev.fin ? "" : " (not FIN)") + (ev.masked ? " masked" : "") + " len=" + ev.len;
    if (ev.op === "close" && ev.close_code !== undefined) {
      s += " code=" + ev.close_code + (ev.close_reason ? " \"" + ev.close_reason + "\"" : "");
    } else if (ev.len > 0 && (ev.op === "text" || ev.op === "ping" || ev.op === "pong" || ev.op === "continuation")) {
      s += " \"" + printable(ev.head_text) + (ev.len > ev.head_hex.length / 2 ? "…" : "") + "\"";
    } else if (ev.len > 0) {
      s += " " + ev.head_hex + (ev.len > ev.head_hex.length / 2 ? "…" : "");
    }
    return s;
  }

  function addRow(ev, layer, summary) {
    const row = { ev: ev, layer: layer, summary: summary, dir: ev.dir, conn: ev.conn, pkt: ev.pkt, notes: [] };
    rows.push(row);
    if (rows.length > MAX_ROWS) {
      const gone = rows.shift();
      dropped++;
      if (tcpRows.get(gone.pkt) === gone) { tcpRows.delete(gone.pkt); packets.delete(gone.pkt); }
    }
    return row;
  }

  function handle(ev) {
    if (t0 === null && ev.t !== undefined) t0 = ev.t;
    switch (ev.type) {
      case "hello":
        els.status.textContent = ev.scope === "all"
          ? "showing every connection (tunws runs with --trace-web all)"
          : "showing the connections this page opened";
        // Resumed after a reload: this page's WebSocket was recorded from its SYN already.
        if (!ev.resumed && api.onWatch) api.onWatch();
        break;
      case "tcp": {
        const row = addRow(ev, "tcp", tcpSummary(ev));
        packets.set(ev.pkt, ev);
        tcpRows.set(ev.pkt, row);
        break;
      }
      case "state": {
        const row = tcpRows.get(ev.pkt);
        if (row) row.notes.push(ev.to);
        break;
      }
      case "drop": {
        const row = tcpRows.get(ev.pkt);
        if (row) {
          row.ev.dropped_out = true;
          row.summary += " dropped on the way out (impairment)";
        }
        break;
      }
      case "note": {
        const row = tcpRows.get(ev.pkt);
        if (row) row.notes.push(ev.text);
        break;
      }
      case "http":
        addRow(ev, "http", ev.kind === "request" ? ev.line : ev.line);
        break;
      case "ws":
        addRow(ev, "ws", wsSummary(ev));
        break;
      case "lost":
        lost += ev.count;
        break;
    }
  }

  function rowClass(row) {
    let c = "row " + row.layer + " " + row.dir;
    if (row.ev.retrans) c += " retrans";
    if (row.ev.dropped || row.ev.dropped_out) c += " dropped";
    if (row === selected) c += " selected";
    return c;
  }

  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; render(); });
  }

  function render() {
    if (!els || !open) return;
    const view = els.view;
    const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - ROW_HEIGHT;
    els.spacer.style.height = (rows.length * ROW_HEIGHT) + "px";
    if (atBottom) view.scrollTop = view.scrollHeight;
    const from = Math.max(0, Math.floor(view.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const to = Math.min(rows.length, Math.ceil((view.scrollTop + view.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    els.list.style.transform = "translateY(" + (from * ROW_HEIGHT) + "px)";
    const frag = document.createDocumentFragment();
    for (let i = from; i < to; i++) frag.appendChild(renderRow(rows[i], i));
    els.list.replaceChildren(frag);
    let text = els.status.textContent.replace(/ · .*$/, "");
    text += " · " + rows.length + " rows";
    if (lost > 0) text += " · " + lost + " events lost (this page did not keep up)";
    els.status.textContent = text;
  }

  function renderRow(row, i) {
    const e = el("div", rowClass(row));
    e.dataset.index = String(i + first());
    e.dataset.layer = row.layer;
    e.dataset.summary = row.summary;
    e.dataset.dir = row.dir;
    e.dataset.conn = String(row.conn);
    const ms = row.ev.t === undefined ? "" : ((row.ev.t - t0) / 1000).toFixed(1);
    e.append(el("span", "ladder-time", ms), el("span", "ladder-conn", String(row.conn)));
    const lane = el("span", "lane");
    lane.append(el("span", "arrow"), el("span", "label", row.summary));
    e.appendChild(lane);
    e.appendChild(el("span", "state", row.notes.join(" · ")));
    e.title = row.summary;
    return e;
  }

  function section(title, lines) {
    const box = el("section", "layer");
    box.appendChild(el("h4", "", title));
    const dl = el("dl");
    lines.forEach(function (pair) {
      if (pair[1] === undefined || pair[1] === null || pair[1] === "") return;
      dl.append(el("dt", "", pair[0]), el("dd", "", String(pair[1])));
    });
    box.appendChild(dl);
    return box;
  }

  function hexLines(hex) {
    const out = [];
    for (let i = 0; i < hex.length; i += 32) {
      out.push(hex.slice(i, i + 32).replace(/(..)/g, "$1 ").trim());
    }
    return out.join("\n");
  }

  function showDetail() {
    const d = els.detail;
    d.textContent = "";
    if (!selected) return;
    const ev = selected.ev;
    const tcp = packets.get(ev.pkt);
    if (tcp) {
      const ip = tcp.ip;
      d.appendChild(section("IP (version " + ip.v + ")", [
        ["source", tcp.src.replace(/:\d+$/, "")], ["destination", tcp.dst.replace(/:\d+$/, "")],
        ["header length", ip.hlen + " bytes"], ["total length", ip.total + " bytes"],
        ["TTL / hop limit", ip.ttl], ["identification", ip.v === 4 ? ip.id : ""],
        ["don't fragment", ip.v === 4 ? (ip.df ? "set" : "clear") : ""],
      ]));
      const o = tcp.opts || {};
      d.appendChild(section("TCP", [
        ["ports", tcp.src.replace(/^.*:/, "") + " → " + tcp.dst.replace(/^.*:/, "")],
        ["flags", tcp.flags.join(", ")],
        ["sequence number", tcp.seq + " (relative; absolute " + tcp.seq_abs + ")"],
        ["acknowledgment", tcp.ack === undefined ? "" : tcp.ack + " (relative; absolute " + tcp.ack_abs + ")"],
        ["window", tcp.win + (o.wscale !== undefined ? " (scale 2^" + o.wscale + " from now on)" : " (unscaled field)")],
        ["header length", tcp.tcp_hlen + " bytes"],
        ["options", [o.mss !== undefined ? "MSS " + o.mss : "", o.wscale !== undefined ? "window scale " + o.wscale : "",
          o.sack_perm ? "SACK permitted" : "", o.sack ? "SACK " + JSON.stringify(o.sack) : "",
          o.ts ? "timestamps " + o.ts.join("/") : ""].filter(Boolean).join(", ")],
        ["payload", tcp.len + " bytes"],
        ["note", tcp.retrans ? "retransmission: this sequence range was sent before" :
          tcp.dropped ? "dropped on the way in by the impairment (--loss): the stack never saw it" :
          tcp.dropped_out ? "sent by the stack, then dropped on the way out by the impairment (--loss)" : ""],
        ["headers (hex)", hexLines(tcp.hdr)],
      ]));
    }
    if (ev.type === "http") {
      const lines = [["start line", ev.line]];
      ev.headers.forEach(function (h) { lines.push([h[0], h[1]]); });
      if (ev.ws_key) {
        lines.push(["Sec-WebSocket-Accept due", "base64(SHA-1(\"" + ev.ws_key +
          "\" + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")) = " + ev.ws_accept]);
      }
      d.appendChild(section(ev.kind === "request" ? "HTTP request" : "HTTP response", lines));
    } else if (ev.type === "ws") {
      d.appendChild(section("WebSocket frame", [
        ["FIN", ev.fin ? "1 (last frame of the message)" : "0 (more frames follow)"],
        ["RSV1-3", ev.rsv], ["opcode", ev.opcode + " (" + ev.op + ")"],
        ["MASK", ev.masked ? "1 (client to server: always masked)" : "0 (server to client: never masked)"],
        ["masking key", ev.key], ["payload length", ev.len + " bytes"],
        ["header (hex)", hexLines(ev.hdr)],
        ["first bytes (hex, unmasked)", hexLines(ev.head_hex)],
        ["first bytes (text)", printable(ev.head_text)],
        ["close code", ev.close_code], ["close reason", ev.close_reason],
      ]));
    }
  }

  function onMessage(msg) {
    if (typeof msg.data !== "string") {
      api.lastPcap = msg.data;
      const url = URL.createObjectURL(new Blob([msg.data], { type: "application/vnd.tcpdump.pcap" }));
      const a = el("a");
      a.href = url;
      a.download = "tunws-ladder.pcap";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      return;
    }
    let events;
    try { events = JSON.parse(msg.data); } catch (e) { return; }
    events.forEach(handle);
    schedule();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/trace");
    socket.binaryType = "arraybuffer";
    socket.onopen = function () { socket.send("watch " + api.token); };
    socket.onmessage = onMessage;
    socket.onclose = function (e) {
      socket = null;
      if (!open) return;
      els.status.textContent = "trace connection closed (" + e.code + (e.reason ? " " + e.reason : "") + "), retrying…";
      setTimeout(function () { if (open && !socket) connect(); }, 2000);
    };
  }

  function toggle() {
    const button = document.getElementById("ladder-toggle");
    open = !open;
    if (!els) build();
    els.root.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Hide the packets" : "Show the packets";
    // The cookie ties the next page load (a reload) to this ladder; only while it is open.
    document.cookie = COOKIE + "=" + (open ? api.token + "; path=/; SameSite=Strict" : "; path=/; max-age=0");
    if (open) sessionStorage.setItem("tunws-ladder-open", "1");
    else sessionStorage.removeItem("tunws-ladder-open");
    if (open) {
      connect();
      render();
    } else if (socket) {
      // Nobody watching: tunws stops recording.
      const s = socket;
      socket = null;
      s.onclose = null;
      s.close(1000);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("ladder-toggle").addEventListener("click", toggle);
    if (sessionStorage.getItem("tunws-ladder-open")) toggle();
  });
})();
