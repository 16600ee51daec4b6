// The official socket.io-client (npm, pinned in package-lock.json) against tunws's /socket.io/,
// with its defaults (HTTP long-polling, then the upgrade to WebSocket) and with
// transports: ["websocket"]. Run with `node --test` inside the network namespace where tunws
// answers; tests/tests/socketio.rs sets it up and chooses the suite with TUNWS_MODE:
//   chat     tunws as users run it: names from auth, presence, ack'd ping, rooms, broadcast,
//            and a restart of tunws that the clients must survive by reconnecting;
//   protocol tunws --socketio-test: binary round trips, heartbeat, a silent client dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import WebSocket from 'ws';

const url = process.env.TUNWS_URL ?? 'http://10.0.0.2:8080';
const mode = process.env.TUNWS_MODE ?? 'chat';
// Shared with tests/tests/socketio.rs: we create `ready` when the clients are connected, it
// restarts tunws and creates `restarted`.
const restartDir = process.env.TUNWS_RESTART_DIR;

const TRANSPORTS = [
  ['defaults (polling, then upgrade)', {}],
  ['transports: ["websocket"]', { transports: ['websocket'] }],
];

function once(emitter, event, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Connects and waits for "connect"; listeners for `events` are attached before, so events
/// the server sends on connection are not missed. Returns the socket and the collected events.
async function connect(options, events = []) {
  const socket = io(url, { reconnection: false, ...options });
  const seen = Object.fromEntries(events.map((e) => [e, []]));
  for (const e of events) socket.on(e, (...args) => seen[e].push(args));
  const failed = once(socket, 'connect_error').then(([err]) => { throw err; });
  await Promise.race([once(socket, 'connect'), failed]);
  return { socket, seen };
}

/// Resolves once the engine runs on WebSocket (the upgrade from polling completed).
async function upgraded(socket) {
  if (socket.io.engine.transport.name !== 'websocket') await once(socket.io.engine, 'upgrade');
  assert.equal(socket.io.engine.transport.name, 'websocket');
}

async function until(what, probe, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (probe()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

if (mode === 'chat') {
  for (const [label, options] of TRANSPORTS) {
    test(`chat, ${label}: connect with a name, presence, ack'd ping, upgrade`, async () => {
      const { socket, seen } = await connect({ ...options, auth: { name: 'ada' } }, ['user joined']);
      await until('user joined', () => seen['user joined'].length > 0);
      // The count includes clients of the previous test whose leaving may still be on its way.
      const [[joined]] = seen['user joined'];
      assert.equal(joined.name, 'ada');
      assert.ok(Number.isInteger(joined.count) && joined.count >= 1, JSON.stringify(joined));
      const started = performance.now();
      const answer = await socket.timeout(5000).emitWithAck('ping');
      assert.equal(answer, undefined, 'ping is acknowledged with no arguments');
      console.log(`${label}: ping round trip ${(performance.now() - started).toFixed(1)} ms`);
      await upgraded(socket);
      socket.disconnect();
    });

    test(`chat, ${label}: broadcast to 3 clients, rooms, user left`, async () => {
      const clients = [];
      for (const name of ['a', 'b', 'c']) {
        clients.push(await connect({ ...options, auth: { name } }, ['chat message', 'user joined', 'user left']));
      }
      // How many were in the room once c joined, as a told it.
      await until('c joined', () => clients[0].seen['user joined'].some(([who]) => who.name === 'c'));
      const withC = clients[0].seen['user joined'].find(([who]) => who.name === 'c')[0].count;
      clients[0].socket.emit('chat message', 'hello all');
      await until('3 deliveries', () => clients.every((c) => c.seen['chat message'].length === 1));
      for (const c of clients) assert.deepEqual(c.seen['chat message'][0], ['hello all', 'a']);

      await clients[1].socket.timeout(5000).emitWithAck('join', 'red');
      await clients[2].socket.timeout(5000).emitWithAck('join', 'red');
      clients[0].socket.emit('room message', 'red', 'to red');
      await until('room deliveries', () => clients[2].seen['chat message'].length === 2);
      assert.deepEqual(clients[1].seen['chat message'][1], ['to red', 'a']);
      assert.deepEqual(clients[2].seen['chat message'][1], ['to red', 'a']);
      await sleep(200);
      assert.equal(clients[0].seen['chat message'].length, 1, 'a is not in room red');

      clients[2].socket.disconnect();
      await until('c left', () => clients[0].seen['user left'].some(([who]) => who.name === 'c'));
      const [left] = clients[0].seen['user left'].find(([who]) => who.name === 'c');
      assert.ok(left.count <= withC - 1, `${JSON.stringify(left)} after ${withC} with c`);
      for (const c of clients) c.socket.disconnect();
    });
  }

  test('chat: tunws restarted, every client reconnects by itself', { skip: !restartDir && 'needs tests/tests/socketio.rs to restart tunws' }, async () => {
    const sockets = TRANSPORTS.map(([, options]) => io(url, { ...options, reconnectionDelay: 100, reconnectionDelayMax: 500 }));
    await Promise.all(sockets.map((s) => once(s, 'connect')));
    await upgraded(sockets[0]);
    const reconnected = sockets.map((s) => once(s.io, 'reconnect', 30_000));
    writeFileSync(join(restartDir, 'ready'), '');
    await Promise.all(reconnected);
    assert.ok(existsSync(join(restartDir, 'restarted')), 'tunws was restarted');
    for (const s of sockets) {
      assert.equal(await s.timeout(5000).emitWithAck('ping'), undefined);
      s.disconnect();
    }
  });
}

if (mode === 'protocol') {
  for (const [label, options] of TRANSPORTS) {
    test(`protocol, ${label}: binary round trip is byte-exact`, async () => {
      const { socket } = await connect(options);
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const big = Buffer.alloc(100_000, 0xa5);
      // Every argument of the ack (emitWithAck resolves with the first one only).
      const [back, text, backBig] = await new Promise((resolve, reject) => {
        socket.timeout(5000).emit('message-with-ack', bytes, 'é', big, (err, ...args) => (err ? reject(err) : resolve(args)));
      });
      assert.ok(Buffer.isBuffer(back));
      assert.deepEqual([...back], [...bytes]);
      assert.equal(text, 'é');
      assert.ok(big.equals(backBig));
      socket.disconnect();
    });

    test(`protocol, ${label}: the session survives 3 heartbeat intervals`, async () => {
      const { socket } = await connect(options);
      let pings = 0;
      socket.io.on('ping', () => pings++);
      const disconnected = [];
      socket.on('disconnect', (reason) => disconnected.push(reason));
      await sleep(3 * 300 + 150);
      assert.ok(pings >= 3, `${pings} pings in 3 intervals`);
      assert.deepEqual(disconnected, []);
      assert.deepEqual(await socket.timeout(2000).emitWithAck('message-with-ack', 'still here'), 'still here');
      socket.disconnect();
    });
  }

  test('protocol: a client silent past pingTimeout is dropped', async () => {
    // A raw WebSocket that joins "/" and then never answers a ping.
    const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    const messages = [];
    ws.on('message', (data) => messages.push(data.toString()));
    await once(ws, 'open');
    await until('open packet', () => messages.length >= 1);
    ws.send('40');
    await until('CONNECT answer', () => messages.some((m) => m.startsWith('40{')));
    const opened = Date.now();
    const [code] = await once(ws, 'close', 5000);
    const after = Date.now() - opened;
    assert.ok(messages.includes('2'), 'a ping was sent');
    // Dropped at pingInterval + pingTimeout = 500 ms (the CONNECT came a few ms after open).
    assert.ok(after >= 400 && after < 2000, `closed after ${after} ms`);
    console.log(`silent client closed after ${after} ms with code ${code}`);
  });
}
