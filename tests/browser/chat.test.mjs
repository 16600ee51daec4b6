// The chat page in headless Chromium: it loads, its WebSocket opens (#status reads "open"),
// and a message typed in one browser (#msg + #send) appears as a .msg element in another.
// Run inside a network namespace where tunws answers (tests/tests/browser.rs sets it up), or
// against `sudo ./scripts/demo.sh` with TUNWS_URL=http://10.0.0.2:8080/ node --test chat.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const url = process.env.TUNWS_URL ?? 'http://10.0.0.2:8080/';
const screenshot = process.env.TUNWS_SCREENSHOT ?? '/tmp/tunws-chat.png';

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

test('a message typed in one browser appears in another', async (t) => {
  const browser = await chromium.launch(launchOptions);
  t.after(() => browser.close());

  // Two contexts: two independent browsers as far as the page is concerned.
  const pages = [];
  for (const name of ['alice', 'bob']) {
    const page = await (await browser.newContext()).newPage();
    page.on('console', (m) => console.log(`[${name} console] ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => console.log(`[${name} page error] ${e.message}`));
    const response = await page.goto(url, { timeout: 15_000 });
    assert.equal(response.status(), 200, `GET ${url}`);
    await page.waitForFunction(statusIsOpen, null, { timeout: 15_000 });
    pages.push(page);
  }
  const [alice, bob] = pages;

  const text = `hello from alice ${process.pid}`;
  await alice.fill('#msg', text);
  await alice.click('#send');
  await bob.waitForFunction(logHas, text, { timeout: 10_000 });
  // Broadcast includes the sender.
  await alice.waitForFunction(logHas, text, { timeout: 10_000 });

  await bob.fill('#msg', 'and hello back from bob');
  await bob.click('#send');
  await alice.waitForFunction(logHas, 'and hello back from bob', { timeout: 10_000 });

  await alice.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
});
