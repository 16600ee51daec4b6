// The chat page in Socket.IO mode (#transport) in headless Chromium, with the Socket.IO client
// tunws serves from npm's socket.io-client (`tunws --socketio-client`): two browsers chat over
// Socket.IO, each starting on HTTP long-polling and upgrading to WebSocket, and switching back
// to raw WebSocket mode works too. Run by tests/tests/socketio.rs inside a network namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const url = process.env.TUNWS_URL ?? 'http://10.0.0.2:8080/';

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

test('two browsers chat over Socket.IO, upgraded from polling to WebSocket', async (t) => {
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
