// The chat page in headless Chromium against `tunws --deflate`: the browser offers
// permessage-deflate (every browser does), tunws's 101 accepts it (the response header, read
// through the DevTools protocol), and chat messages, short and long, go through compressed
// both ways and appear intact.
// Run inside a network namespace where `tunws --deflate` answers (tests/tests/browser.rs sets it
// up), or against `sudo ./scripts/demo.sh --deflate` with
// TUNWS_URL=http://10.0.0.2:8080/ node --test deflate.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { launchOptions, logHas, statusIsOpen, url } from './page.mjs';


test('Chromium negotiates permessage-deflate and chats through it', async (t) => {
  const browser = await chromium.launch(launchOptions);
  t.after(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  page.on('console', (m) => console.log(`[console] ${m.type()}: ${m.text()}`));

  // Listen before the page opens its WebSocket.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const handshakes = [];
  cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => handshakes.push({ request: e.request.headers }));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => handshakes.push({ response: e.response }));

  const response = await page.goto(url, { timeout: 15_000 });
  assert.equal(response.status(), 200, `GET ${url}`);
  await page.waitForFunction(statusIsOpen, null, { timeout: 15_000 });

  const header = (headers, name) =>
    Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];
  const offered = handshakes.map((h) => header(h.request, 'sec-websocket-extensions')).find(Boolean);
  const answer = handshakes.find((h) => h.response)?.response;
  console.log(`offered: ${offered}`);
  console.log(`answered: ${answer?.status} ${header(answer?.headers, 'sec-websocket-extensions')}`);
  assert.match(offered ?? '', /permessage-deflate/, 'Chromium offers permessage-deflate');
  assert.equal(answer?.status, 101);
  assert.match(header(answer.headers, 'sec-websocket-extensions') ?? '', /^permessage-deflate/,
    'tunws accepts it in the 101');

  // A short message, and a long one that compresses well (broadcast includes the sender).
  const short = `deflated hello ${process.pid}`;
  const long = `${'a chat line that repeats itself, '.repeat(110)}end ${process.pid}`;
  for (const text of [short, long]) {
    await page.fill('#msg', text);
    await page.click('#send');
    await page.waitForFunction(logHas, text.slice(-40), { timeout: 10_000 });
  }
  const echoed = await page.evaluate(() => [...document.querySelectorAll('#log .msg')].map((e) => e.textContent));
  assert.ok(echoed.some((line) => line.includes(long)), 'the long message came back whole');
});
