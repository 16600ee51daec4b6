// The chat page in Socket.IO mode (#transport) in headless Chromium, with the Socket.IO client
// tunws serves from npm's socket.io-client (`tunws --socketio-client`): two browsers chat over
// Socket.IO, each starting on HTTP long-polling and upgrading to WebSocket, and switching back
// to raw WebSocket mode works too; tunws restarted under a page in Socket.IO mode, which
// reconnects by itself. With TUNWS_MODE=protocol (tunws --socketio-test): a binary round trip
// from the browser's client through the suite server's `message-with-ack` is byte-exact. Run by
// tests/tests/socketio.rs inside a network namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.TUNWS_URL ?? 'http://10.0.0.2:8080/';
const protocolMode = process.env.TUNWS_MODE === 'protocol';
// Shared with tests/tests/socketio.rs: we create `ready` once the page is connected, it restarts
// tunws then.
const restartDir = process.env.TUNWS_RESTART_DIR;

// Debian's Chromium, never a downloaded browser build.
const launchOptions = {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
};

const statusIsOpen = () => document.querySelector('#status')?.textContent.trim() === 'open';
const logHas = (text) => [...document.querySelectorAll('#log .msg')].some((e) => e.textContent.includes(text));
const pageHas = (text) => document.querySelector('#log').textContent.includes(text);

async function openPage(browser, name, transport) {
  const page = await (await browser.newContext()).newPage();
  page.on('console', (m) => console.log(`[${name} console] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[${name} page error] ${e.message}`));
  const response = await page.goto(url, { timeout: 15_000 });
  assert.equal(response.status(), 200, `GET ${url}`);
  await page.evaluate((n) => localStorage.setItem('tunws-name', n), name);
  // Switching the transport reloads the page in the chosen mode.
  if ((await page.inputValue('#transport')) !== transport) {
    await Promise.all([page.waitForEvent('load'), page.selectOption('#transport', transport)]);
  }
  assert.equal(await page.inputValue('#transport'), transport);
  await page.waitForFunction(statusIsOpen, null, { timeout: 15_000 });
  return page;
}

test('two browsers chat over Socket.IO, upgraded from polling to WebSocket', { skip: protocolMode && 'chat mode only' }, async (t) => {
  const browser = await chromium.launch(launchOptions);
  t.after(() => browser.close());
  const alice = await openPage(browser, 'alice', 'socketio');
  const bob = await openPage(browser, 'bob', 'socketio');
  await alice.waitForFunction(pageHas, 'bob joined', { timeout: 10_000 });
  // Each note names the transport: connected over polling and later upgraded, or connected
  // once the upgrade had already finished.
  const onWebSocket = () => /upgraded to websocket|over websocket/.test(document.querySelector('#log').textContent);
  for (const page of [alice, bob]) {
    await page.waitForFunction(onWebSocket, null, { timeout: 10_000 });
  }

  await alice.fill('#msg', 'hello over socket.io');
  await alice.click('#send');
  await bob.waitForFunction(logHas, 'alice: hello over socket.io', { timeout: 10_000 });
  await alice.waitForFunction(logHas, 'alice: hello over socket.io', { timeout: 10_000 });

  // Back to raw WebSocket: the same page, the /chat endpoint.
  await Promise.all([bob.waitForEvent('load'), bob.selectOption('#transport', 'websocket')]);
  await bob.waitForFunction(statusIsOpen, null, { timeout: 15_000 });
  await alice.waitForFunction(pageHas, 'bob left', { timeout: 10_000 });
  // The page adds its packet-ladder token (`?t=...`) to the WebSocket URL; the endpoint is /chat.
  const wsUrl = new URL(await bob.textContent('#url'));
  assert.equal(wsUrl.origin + wsUrl.pathname, url.replace('http', 'ws') + 'chat');
});

test('a page in Socket.IO mode reconnects by itself when tunws restarts', { skip: (protocolMode || !restartDir) && 'needs the chat and TUNWS_RESTART_DIR' }, async (t) => {
  const browser = await chromium.launch(launchOptions);
  t.after(() => browser.close());
  const page = await openPage(browser, 'dave', 'socketio');
  writeFileSync(join(restartDir, 'ready'), '');
  // tunws goes away: the client notes the disconnection, then reconnects to the new tunws.
  await page.waitForFunction(pageHas, 'disconnected (', { timeout: 20_000 });
  await page.waitForFunction(statusIsOpen, null, { timeout: 30_000 });
  await page.fill('#msg', 'after the restart');
  await page.click('#send');
  await page.waitForFunction(logHas, 'dave: after the restart', { timeout: 10_000 });
});

test('binary round trip from the browser is byte-exact (protocol mode)', { skip: !protocolMode && 'needs tunws --socketio-test' }, async (t) => {
  const browser = await chromium.launch(launchOptions);
  t.after(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  assert.equal((await page.goto(url, { timeout: 15_000 })).status(), 200);
  await page.addScriptTag({ url: '/socket.io/socket.io.js' });
  const result = await page.evaluate(async () => {
    const bytes = new Uint8Array(100_000).map((_, i) => (i * 7 + 3) & 0xff);
    const results = {};
    for (const transports of [['polling', 'websocket'], ['websocket']]) {
      const socket = io({ transports });
      await new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      const back = new Uint8Array(await socket.timeout(10_000).emitWithAck('message-with-ack', bytes));
      results[transports.join('+')] = back.length === bytes.length && back.every((b, i) => b === bytes[i]);
      socket.disconnect();
    }
    return results;
  });
  assert.deepEqual(result, { 'polling+websocket': true, websocket: true });
});
