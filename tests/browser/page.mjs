// What the browser tests share: how Chromium is launched and how a chat page is opened.
import assert from 'node:assert/strict';

export const url = process.env.TUNWS_URL ?? 'http://10.0.0.2:8080/';

// Debian's Chromium, never a downloaded browser build.
export const launchOptions = {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
};

export const statusIsOpen = () => document.querySelector('#status')?.textContent.trim() === 'open';

// A page in a context of its own (another browser, as far as the page can tell), loaded and with
// its WebSocket open; its console and errors go to the test output under `name`.
export async function openPage(browser, name, { timeout = 15_000, viewport } = {}) {
  const page = await (await browser.newContext(viewport ? { viewport } : {})).newPage();
  page.on('console', (m) => console.log(`[${name} console] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[${name} page error] ${e.message}`));
  const response = await page.goto(url, { timeout });
  assert.equal(response.status(), 200, `GET ${url}`);
  await page.waitForFunction(statusIsOpen, null, { timeout });
  return page;
}
