// The chat page's packet ladder in headless Chromium (DOM contract: #ladder-toggle, #ladder .row
// with data-layer = tcp|http|ws and data-summary). Run by tests/tests/ladder.rs inside a network
// namespace, once per tunws configuration; TUNWS_SCENARIO picks the tests that fit it:
//   own  (default flags, --pcap): the page's WebSocket handshake and frames, a screenshot, a
//        second page that does not see them, the pcap export (saved to TUNWS_EXPORT);
//   loss (--loss 20): a retransmission or drop row appears;
//   all  (--trace-web all): a second page does see the first page's rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { launchOptions, openPage, statusIsOpen } from './page.mjs';

const scenario = process.env.TUNWS_SCENARIO ?? 'own';
const screenshot = process.env.TUNWS_SCREENSHOT ?? '/tmp/tunws-ladder.png';
const exportPath = process.env.TUNWS_EXPORT;
// Tall enough for the chat, the ladder and the packet view in one screenshot.
const viewport = { width: 1100, height: 1400 };

const rowsOf = (page) => page.$$eval('#ladder .row', (rows) => rows.map((r) => ({
  layer: r.dataset.layer, summary: r.dataset.summary, dir: r.dataset.dir, conn: r.dataset.conn,
})));

// Opens the panel and waits until the page's reopened /chat WebSocket is on it; returns the
// ladder's connection number of that WebSocket.
async function openLadder(page, timeout = 15_000) {
  await page.click('#ladder-toggle');
  await page.waitForFunction(() => [...document.querySelectorAll('#ladder .row[data-layer="http"]')]
    .some((r) => r.dataset.summary.startsWith('HTTP/1.1 101')), null, { timeout });
  await page.waitForFunction(statusIsOpen, null, { timeout });
  const rows = await rowsOf(page);
  const upgrade = rows.find((r) => r.layer === 'http' && r.summary.startsWith('GET /chat?t='));
  assert.ok(upgrade, `no GET /chat row: ${JSON.stringify(rows)}`);
  return upgrade.conn;
}

async function send(page, text) {
  await page.fill('#msg', text);
  await page.click('#send');
  await page.waitForFunction((t) => [...document.querySelectorAll('#log .msg')]
    .some((e) => e.textContent.includes(t)), text, { timeout: 15_000 });
}

function waitForRow(page, layer, dir, prefix, timeout = 15_000) {
  return page.waitForFunction(([l, d, p]) => [...document.querySelectorAll('#ladder .row')]
    .some((r) => r.dataset.layer === l && r.dataset.dir === d && r.dataset.summary.startsWith(p)),
  [layer, dir, prefix], { timeout });
}

test('the ladder shows the WebSocket handshake, the masked frame and the echo; pcap export',
  { skip: scenario !== 'own' && `scenario ${scenario}` }, async (t) => {
    const browser = await chromium.launch(launchOptions);
    t.after(() => browser.close());
    const page = await openPage(browser, 'alice', { viewport });
    const conn = await openLadder(page);

    const text = `ladder ${process.pid}`; // 12 bytes or more; its length is checked below
    await send(page, text);
    const len = Buffer.byteLength(text);
    await waitForRow(page, 'ws', 'in', `text masked len=${len} "`);
    await waitForRow(page, 'ws', 'out', `text len=${len} "`);

    const mine = (await rowsOf(page)).filter((r) => r.conn === conn);
    const find = (layer, dir, prefix) => mine.findIndex((r) => r.layer === layer && r.dir === dir && r.summary.startsWith(prefix));
    const order = [
      find('tcp', 'in', 'SYN seq=0 '),
      find('tcp', 'out', 'SYN,ACK seq=0 ack=1 '),
      find('tcp', 'in', 'ACK seq=1 ack=1 '),
      find('http', 'in', 'GET /chat?t='),
      find('http', 'out', 'HTTP/1.1 101 Switching Protocols'),
      find('ws', 'in', `text masked len=${len} "${text}"`),
      find('ws', 'out', `text len=${len} "${text}"`),
    ];
    assert.ok(order.every((i) => i >= 0), `missing rows ${JSON.stringify(order)} in ${JSON.stringify(mine, null, 1)}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, `out of order: ${JSON.stringify(mine, null, 1)}`);
    assert.match(mine[order[0]].summary, /mss=\d+/);

    // Click the browser's frame: its packet layer by layer.
    await page.click(`#ladder .row[data-layer="ws"][data-dir="in"][data-conn="${conn}"]`);
    const detail = await page.textContent('#ladder-detail');
    for (const part of ['IP (version 4)', 'TCP', 'WebSocket frame', 'masking key', `${len} bytes`, '1 (text)']) {
      assert.ok(detail.includes(part), `detail lacks ${part}: ${detail}`);
    }
    await page.click(`#ladder .row[data-layer="http"][data-dir="in"][data-conn="${conn}"]`);
    assert.ok((await page.textContent('#ladder-detail')).includes('258EAFA5-E914-47DA-95CA-C5AB0DC85B11'));
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`screenshot: ${screenshot}`);

    // A second page, same host, own scope: it sees its own connections, never alice's.
    const bob = await openPage(browser, 'bob', { viewport });
    const bobConn = await openLadder(bob);
    assert.notEqual(bobConn, conn);
    const secret = `only alice sees this ${process.pid}`;
    await send(page, secret);
    await waitForRow(page, 'ws', 'in', `text masked len=${Buffer.byteLength(secret)}`);
    await send(bob, 'bob was here');
    await waitForRow(bob, 'ws', 'in', 'text masked len=12');
    const bobRows = await rowsOf(bob);
    assert.ok(!bobRows.some((r) => r.conn === conn), `bob sees alice's connection ${conn}`);
    // alice's frame from her browser is not on bob's ladder; /chat broadcasts it to bob, and
    // that copy, on bob's own connection, is his to see.
    assert.ok(!bobRows.some((r) => r.dir === 'in' && r.summary.includes('only alice')), 'bob sees alice\'s frame');
    assert.ok(bobRows.some((r) => r.conn === bobConn && r.dir === 'out' && r.summary.includes('only alice')));

    // Export what alice's panel shows as a pcap.
    if (exportPath) {
      const download = page.waitForEvent('download', { timeout: 15_000 });
      await page.click('#ladder-export');
      await (await download).saveAs(exportPath);
      console.log(`pcap export: ${exportPath}`);
    }

    // A page load, on the page's token: its request and the 200 are on the ladder.
    await page.click('#ladder-again');
    await waitForRow(page, 'http', 'in', 'GET /?t=');
    await waitForRow(page, 'http', 'out', 'HTTP/1.1 200 OK');

    // Usable at 1,000 rows and more: 400 echoes on another socket of the page (same token).
    const started = Date.now();
    const echoed = await page.evaluate(async () => {
      const ws = new WebSocket(`ws://${location.host}/echo?t=${window.tunwsLadder.token}`);
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
      // Sent in bursts of 50, so the rows arrive while others are being drawn.
      let n = 0;
      for (let burst = 0; burst < 8; burst++) {
        const back = new Promise((resolve) => {
          let left = 50;
          ws.onmessage = () => { n++; if (--left === 0) resolve(); };
        });
        for (let i = 0; i < 50; i++) ws.send(`row ${burst * 50 + i}`);
        await back;
      }
      ws.close();
      return n;
    });
    assert.equal(echoed, 400);
    await page.waitForFunction(() => /· (\d+) rows/.test(document.querySelector('.ladder-status').textContent)
      && Number(/· (\d+) rows/.exec(document.querySelector('.ladder-status').textContent)[1]) >= 1000, null, { timeout: 30_000 });
    const timing = await page.evaluate(async () => {
      const view = document.querySelector('.ladder-view');
      const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
      const started = performance.now();
      for (const top of [0, view.scrollHeight / 2, 0]) {
        view.scrollTop = top;
        view.dispatchEvent(new Event('scroll'));
        await frame();
      }
      return {
        ms: performance.now() - started,
        inDom: document.querySelectorAll('#ladder .row').length,
        first: document.querySelector('#ladder .row')?.dataset.summary,
      };
    });
    console.log(`1000+ rows after ${Date.now() - started} ms; 3 scroll jumps rendered in ${timing.ms.toFixed(1)} ms, ${timing.inDom} rows in the DOM`);
    assert.ok(timing.inDom < 400, `rows are not virtualised: ${timing.inDom} in the DOM`);
    assert.ok(timing.first.startsWith('SYN seq=0'), `the top row is ${timing.first}`);

    // Reload with the panel open: the panel reopens by itself and takes over what tunws kept
    // recording for the token meanwhile, so the new page's WebSocket is there from its SYN,
    // without reconnecting it.
    await page.reload();
    await page.waitForFunction(statusIsOpen, null, { timeout: 15_000 });
    await page.waitForSelector('#ladder:not([hidden])', { timeout: 15_000 });
    await waitForRow(page, 'http', 'out', 'HTTP/1.1 101');
    const reloaded = await rowsOf(page);
    const upgrades = reloaded.filter((r) => r.layer === 'http' && r.summary.startsWith('GET /chat?t='));
    assert.equal(upgrades.length, 1, `one WebSocket, not reopened: ${JSON.stringify(reloaded, null, 1)}`);
    assert.ok(reloaded.some((r) => r.conn === upgrades[0].conn && r.layer === 'tcp' && r.summary.startsWith('SYN seq=0 ')),
      `no SYN of the new WebSocket: ${JSON.stringify(reloaded, null, 1)}`);
    // The page's own requests are not asserted: the browser may take /ladder.js and
    // /ladder.css from its cache, or send them on a keep-alive connection before it unloads
    // the old page.
  });

test('with --loss 20 a retransmission or a drop shows up', { skip: scenario !== 'loss' && `scenario ${scenario}` }, async (t) => {
  const browser = await chromium.launch(launchOptions);
  t.after(() => browser.close());
  const page = await openPage(browser, 'lossy', { timeout: 60_000, viewport });
  await openLadder(page, 60_000);
  for (let i = 0; i < 20; i++) {
    const rows = await rowsOf(page);
    if (rows.some((r) => r.layer === 'tcp' && r.summary.includes('retransmission'))) break;
    await page.fill('#msg', `lossy ${i}`);
    await page.click('#send').catch(() => {});
    await page.waitForTimeout(1500);
  }
  const rows = await rowsOf(page);
  const retrans = rows.filter((r) => r.layer === 'tcp' && r.summary.includes('retransmission'));
  const drops = rows.filter((r) => r.summary.includes('dropped'));
  console.log(`${retrans.length} retransmission rows, ${drops.length} dropped rows of ${rows.length}`);
  assert.ok(retrans.length > 0, `no retransmission row in ${JSON.stringify(rows, null, 1)}`);
  assert.ok(drops.length > 0, 'no dropped row');
  await page.screenshot({ path: screenshot, fullPage: true });
});

test('with --trace-web all a second page sees the first page\'s frames', { skip: scenario !== 'all' && `scenario ${scenario}` }, async (t) => {
  const browser = await chromium.launch(launchOptions);
  t.after(() => browser.close());
  const alice = await openPage(browser, 'alice', { viewport });
  await openLadder(alice);
  const teacher = await openPage(browser, 'teacher', { viewport });
  const teacherConn = await openLadder(teacher);
  const text = `seen by the projector ${process.pid}`;
  await send(alice, text);
  await waitForRow(teacher, 'ws', 'in', `text masked len=${Buffer.byteLength(text)} "`);
  const rows = await rowsOf(teacher);
  // alice's browser sent it: a masked frame coming in on a connection that is not the teacher's.
  // The row shows the first 16 bytes of the payload.
  assert.ok(rows.some((r) => r.dir === 'in' && r.conn !== teacherConn && r.summary.includes(text.slice(0, 16))),
    `the projector should see alice's frame: ${JSON.stringify(rows, null, 1)}`);
  assert.ok(!rows.some((r) => r.summary.startsWith('GET /trace')), 'trace sockets must not show');
});
