// The chat page in headless Chromium: it loads, its WebSocket opens (#status reads "open"),
// and a message typed in one browser (#msg + #send) appears as a .msg element in another.
// Then tunws is restarted under the page, which must reconnect by itself.
// Run inside a network namespace where tunws answers (tests/tests/browser.rs sets it up), or
// against `sudo ./scripts/demo.sh` with TUNWS_URL=http://10.0.0.2:8080/ node --test chat.test.mjs
// (the restart test then skips: it needs tests/tests/browser.rs to restart tunws).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchOptions, openPage, statusIsOpen } from './page.mjs';

const screenshot = process.env.TUNWS_SCREENSHOT ?? '/tmp/tunws-chat.png';
// A directory shared with tests/tests/browser.rs: we create `ready` in it when the page is open,
// and it restarts tunws then.
const restartDir = process.env.TUNWS_RESTART_DIR;

const logHas = (text) => [...document.querySelectorAll('#log .msg')].some((e) => e.textContent.includes(text));
const pageHas = (text) => document.querySelector('#log').textContent.includes(text);

test('a message typed in one browser appears in another', async (t) => {
  const browser = await chromium.launch(launchOptions);
  t.after(() => browser.close());

  // Two contexts: two independent browsers as far as the page is concerned.
  const alice = await openPage(browser, 'alice');
  const bob = await openPage(browser, 'bob');

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

test('the page reconnects by itself when tunws restarts', { skip: !restartDir && 'TUNWS_RESTART_DIR not set' }, async (t) => {
  const browser = await chromium.launch(launchOptions);
  t.after(() => browser.close());
  const page = await openPage(browser, 'carol');

  writeFileSync(join(restartDir, 'ready'), '');
  // tunws goes away with close code 1001 (going away), which the page notes in its log...
  await page.waitForFunction(pageHas, 'code 1001', { timeout: 20_000 });
  // ...and comes back: the page reconnects by itself and works again.
  await page.waitForFunction(statusIsOpen, null, { timeout: 30_000 });
  await page.fill('#msg', 'after the restart');
  await page.click('#send');
  await page.waitForFunction(logHas, 'after the restart', { timeout: 10_000 });
});
