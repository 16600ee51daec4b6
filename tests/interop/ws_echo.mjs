// Node's ws (npm, pinned in package-lock.json) as a client of `tunws --deflate` /echo with
// permessage-deflate on (threshold 0: every message compressed, not only those over 1 KiB):
// once with the library's default offer, once with a strict one (both no_context_takeover
// parameters, server_max_window_bits=10, client_max_window_bits=11). For each: the 101's
// Sec-WebSocket-Extensions agrees the extension, every message (1 B to 1 MiB, text and binary,
// chat-like and random) comes back byte-exact with its type, and the 1 MiB chat text arrived
// compressed (fewer bytes on the socket than in the message). The same kinds of message as
// echo_checks.py. Prints one line per check; exits non-zero on the first failure.
// Run inside the namespace where tunws answers (tests/tests/interop.rs does):
//   TUNWS_URL=ws://10.0.0.2:8080/echo node ws_echo.mjs
import WebSocket from 'ws';

const URL = process.env.TUNWS_URL ?? 'ws://10.0.0.2:8080/echo';
const SIZES = [1, 125, 126, 65535, 65536, 1 << 20];

// xorshift32: the same messages every run.
function rng(seed) {
  let x = seed | 1;
  return (n) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % n;
  };
}

function chatText(size, seed) {
  let s = '';
  for (let i = 0; s.length < size; i++) {
    s += `user${(seed + i) % 17}: message ${i} about the lab, see you at ${String(i % 24).padStart(2, '0')}:00\n`;
  }
  return s.slice(0, size);
}

// Valid UTF-8 of exactly `size` bytes from random code points of 1 to 4 bytes.
function randomText(size, next) {
  const ranges = [[0x20, 0x7f], [0xa0, 0x800], [0x800, 0xd800], [0x10000, 0x110000]];
  const parts = [];
  let length = 0;
  while (length < size) {
    const [lo, hi] = ranges[next(4)];
    let c = String.fromCodePoint(lo + next(hi - lo));
    if (length + Buffer.byteLength(c) > size) c = 'x';
    parts.push(c);
    length += Buffer.byteLength(c);
  }
  return parts.join('');
}

function messages(seed) {
  const next = rng(seed + 1);
  const out = [];
  for (const size of SIZES) {
    const random = Buffer.alloc(size);
    for (let i = 0; i < size; i++) random[i] = next(256);
    out.push([`text ${size} B compressible`, chatText(size, seed)]);
    out.push([`text ${size} B random`, randomText(size, next)]);
    out.push([`binary ${size} B compressible`, Buffer.from(chatText(size, seed + 1))]);
    out.push([`binary ${size} B random`, random]);
  }
  for (const [label, m] of out) {
    const n = typeof m === 'string' ? Buffer.byteLength(m) : m.length;
    if (n !== Number(label.split(' ')[1])) throw new Error(`${label}: built ${n} bytes`);
  }
  return out;
}

const OFFERS = {
  'default offer': { threshold: 0 },
  'strict offer': {
    threshold: 0,
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 11,
  },
};
const STRICT_ANSWER = ['server_no_context_takeover', 'client_no_context_takeover',
  'server_max_window_bits=10', 'client_max_window_bits=11'];

function fail(message) {
  throw new Error(message);
}

async function check(name, perMessageDeflate, seed) {
  const ws = new WebSocket(URL, { perMessageDeflate, handshakeTimeout: 20000 });
  const queue = [];
  let waiting = null;
  ws.on('message', (data, isBinary) => {
    queue.push({ data, isBinary });
    if (waiting) waiting();
  });
  // 'open' follows 'upgrade' in the same tick: listen for both before either fires.
  let response = null;
  ws.once('upgrade', (res) => { response = res; });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const answer = response.headers['sec-websocket-extensions'] ?? '';
  if (!answer.startsWith('permessage-deflate')) fail(`${name}: not negotiated: '${answer}'`);
  if (name === 'strict offer') {
    for (const p of STRICT_ANSWER) if (!answer.includes(p)) fail(`${name}: ${p} missing from '${answer}'`);
  }
  console.log(`${name}: negotiated '${answer}'`);
  const socket = response.socket;
  const all = messages(seed);
  for (const [label, message] of all) {
    const before = socket.bytesRead;
    ws.send(message);
    const deadline = Date.now() + 30000;
    while (queue.length === 0) {
      if (Date.now() > deadline) fail(`${name}: no echo of ${label} within 30 s`);
      await new Promise((resolve) => { waiting = resolve; setTimeout(resolve, 100); });
    }
    const { data, isBinary } = queue.shift();
    const text = typeof message === 'string';
    if (isBinary === text) fail(`${name}: ${label} came back as ${isBinary ? 'binary' : 'text'}`);
    const expected = text ? Buffer.from(message) : message;
    if (!data.equals(expected)) fail(`${name}: ${label} came back different (${data.length} B)`);
    if (label === `text ${1 << 20} B compressible`) {
      const wire = socket.bytesRead - before;
      if (wire >= message.length / 2) fail(`${name}: ${label} took ${wire} B on the wire`);
      console.log(`${name}: ${label} echoed in ${wire} B on the wire`);
    }
  }
  console.log(`${name}: ${all.length} messages echoed byte-exact`);
  ws.close(1000);
  await new Promise((resolve) => ws.once('close', resolve));
}

let seed = 0;
for (const [name, options] of Object.entries(OFFERS)) await check(name, options, seed++);
console.log('all checks passed');
