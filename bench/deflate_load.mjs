// Load generator for scripts/bench-deflate.sh: Node's ws (tests/interop's pinned copy) against a
// tunws /echo, with permessage-deflate offered (--deflate: every message compressed, threshold
// 0) or not. Prints one JSON line.
//
//   node bench/deflate_load.mjs echo --url URL --server-pid PID [--deflate] -c C -s S
//        [--duration SEC] [--warmup SEC]
//     C connections in a closed loop: each sends an S-byte chat-like text message (words of a
//     small vocabulary in a new random order each time, as in ws/benches/deflate.rs) and waits
//     for its echo, checked byte for byte. Reports msgs/s, the server's CPU per message (its
//     utime+stime over the measured window), the bytes read from the sockets per message and
//     the share of a core the load generator used (near 1: the client was the limit).
//     With --rate R the connections together send R msgs/s (each paced to R/C) instead of as
//     fast as they can: server CPU per message is then compared at one message rate (at
//     different rates a server batches differently, and its CPU per message differs for that
//     alone).
//   node bench/deflate_load.mjs memory --url URL --server-pid PID [--deflate] -n N -s S
//     Opens N connections (the server's RSS before and after: per idle connection), then sends
//     one S-byte message on each and waits for every echo (RSS again: per connection that has
//     exchanged a message, i.e. with its inflater and compressor once deflate is agreed).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('../tests/interop/package.json', import.meta.url));
const WebSocket = require('ws');

const [mode, ...rest] = process.argv.slice(2);
const args = { c: 100, s: 4096, n: 1000, duration: 3, warmup: 1, deflate: false, rate: 0 };
for (let i = 0; i < rest.length; i++) {
  const key = rest[i].replace(/^-+/, '').replace(/-(.)/g, (_, c) => c.toUpperCase());
  if (key === 'deflate') args.deflate = true;
  else args[key] = ['url'].includes(key) ? rest[++i] : Number(rest[++i]);
}
if (!['echo', 'memory'].includes(mode) || !args.url || !args.serverPid) {
  console.error('usage: deflate_load.mjs echo|memory --url URL --server-pid PID [--deflate] ...');
  process.exit(2);
}

const WORDS = ['hello', 'the', 'packet', 'is', 'on', 'its', 'way', 'through', 'tun0', 'and',
  'smoltcp', 'answers', 'with', 'a', 'SYN-ACK', 'websocket', 'frame', 'chat', 'message', 'who',
  'is', 'there', 'ok', 'thanks'];
let x = 0x9e3779b9;
function next(n) {
  x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
  return (x >>> 0) % n;
}
function chat(size) {
  const parts = [];
  let length = 0;
  while (length < size) {
    const w = WORDS[next(WORDS.length)] + (next(8) === 0 ? '\n' : ' ');
    parts.push(w);
    length += w.length;
  }
  return parts.join('').slice(0, size);
}

function cpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10000; // 100 ticks/s
}
function rssKib(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One connection with a promise-returning echo(). `negotiated`: the 101 agreed permessage-deflate.
function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(args.url, {
      // threshold 0: every message compressed; ws runs at most concurrencyLimit (10 by default)
      // zlib jobs at once in the whole process, which would throttle C=100 by itself.
      perMessageDeflate: args.deflate ? { threshold: 0, concurrencyLimit: Math.max(10, args.c) } : false,
      handshakeTimeout: 20000,
    });
    let pending = null;
    let socket = null;
    ws.on('upgrade', (res) => { socket = res.socket; });
    ws.on('message', (data) => { const p = pending; pending = null; p?.(data); });
    ws.on('error', reject);
    ws.on('open', () => resolve({
      ws,
      negotiated: ws.extensions.startsWith('permessage-deflate'),
      bytesRead: () => socket.bytesRead,
      echo: (msg) => new Promise((done) => { pending = done; ws.send(msg); }),
    }));
  });
}

async function openMany(n) {
  const all = [];
  while (all.length < n) all.push(...await Promise.all(Array.from({ length: Math.min(64, n - all.length) }, open)));
  return all;
}

async function echo() {
  const conns = await openMany(args.c);
  const start = performance.now() + args.warmup * 1000;
  const end = start + args.duration * 1000;
  let msgs = 0, mismatches = 0, cpu0 = null, bytes0 = 0, own0 = null;
  const bytes = () => conns.reduce((sum, c) => sum + c.bytesRead(), 0);
  setTimeout(() => {
    cpu0 = cpuMicros(args.serverPid);
    bytes0 = bytes();
    own0 = process.cpuUsage();
  }, args.warmup * 1000);
  // With --rate: each connection's sends are due every `interval` ms, spread over the first one.
  const interval = args.rate > 0 ? (1000 * args.c) / args.rate : 0;
  await Promise.all(conns.map(async (c, i) => {
    let due = performance.now() + (interval * i) / args.c;
    while (performance.now() < end) {
      if (interval > 0) {
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        due += interval;
      }
      const msg = chat(args.s);
      const back = await c.echo(msg);
      if (back.toString() !== msg) mismatches++;
      if (performance.now() >= start && performance.now() < end) msgs++;
    }
  }));
  const cpu = cpuMicros(args.serverPid) - cpu0;
  const own = process.cpuUsage(own0);
  const wire = bytes() - bytes0;
  for (const c of conns) c.ws.terminate();
  return {
    mode: 'echo', deflate: args.deflate, negotiated: conns.every((c) => c.negotiated),
    connections: args.c, size: args.s, rate: args.rate, msgs_per_s: msgs / args.duration,
    server_cpu_us_per_msg: cpu / msgs, wire_bytes_per_msg: wire / msgs, mismatches,
    // Share of a core the load generator itself used: near 1, it was the bottleneck.
    client_cpu_share: (own.user + own.system) / (args.duration * 1e6),
  };
}

async function memory() {
  const rss0 = rssKib(args.serverPid);
  const conns = await openMany(args.n);
  await sleep(500);
  const rssIdle = rssKib(args.serverPid);
  for (let i = 0; i < conns.length; i += 100) {
    await Promise.all(conns.slice(i, i + 100).map(async (c) => {
      const msg = chat(args.s);
      if ((await c.echo(msg)).toString() !== msg) throw new Error('echo differs');
    }));
  }
  await sleep(500);
  const rssActive = rssKib(args.serverPid);
  for (const c of conns) c.ws.terminate();
  return {
    mode: 'memory', deflate: args.deflate, negotiated: conns.every((c) => c.negotiated),
    connections: args.n, size: args.s, rss_start_kib: rss0, rss_idle_kib: rssIdle, rss_active_kib: rssActive,
    idle_kib_per_conn: (rssIdle - rss0) / args.n, active_kib_per_conn: (rssActive - rss0) / args.n,
  };
}

console.log(JSON.stringify(mode === 'echo' ? await echo() : await memory()));
process.exit(0);
