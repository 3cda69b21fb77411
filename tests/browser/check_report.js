// check_report.js: opens a curvscope report headless in Debian's chromium (file:// URL,
// no network) and prints TAP lines: no console errors or dialogs, no network requests,
// every chart rendered (a non-blank canvas or non-empty SVG per .chart container), the
// run table present and working, and a screenshot saved.
//
// usage: node check_report.js REPORT.html SCREENSHOT.png [FIRST_TAP_NUMBER]
// Prints "ok N - ..." lines and, last, "# count N" with the number of lines printed.
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');
const { chromium } = require('playwright-core');

const [report, shot, first] = process.argv.slice(2);
let n = Number(first || 1) - 1, printed = 0;
function tap(ok, msg) {
  n++; printed++;
  console.log(`${ok ? '' : 'not '}ok ${n} - ${msg}`);
  return ok;
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-chromium-'));
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage'];
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args,
      viewport: { width: 1400, height: 1000 }, timeout: 60000 });
  } catch (e) {
    tap(false, 'chromium starts: ' + String(e).split('\n')[0]);
    console.log(`# count ${printed}`);
    process.exit(1);
  }
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [], requests = [];
  page.on('console', m => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  page.on('pageerror', e => errors.push('page error: ' + e));
  page.on('dialog', d => { errors.push('dialog opened: ' + d.message()); d.dismiss(); });
  page.on('request', r => {
    const u = r.url();
    if (!u.startsWith('file:') && !u.startsWith('data:') && !u.startsWith('blob:')) requests.push(u);
  });
  const url = 'file://' + path.resolve(report);
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load', timeout: 120000 });
  const loadMs = Date.now() - t0;
  tap(await page.evaluate(() => !!window.curvscope), `page loads and runs its script (${loadMs} ms)`);
  const state = await page.evaluate(() => window.curvscope.renderAll().then(s => ({
    charts: s.charts, rendered: s.rendered, failed: s.failed, errors: s.errors.slice(0, 5) })));
  tap(state.charts > 0 && state.rendered === state.charts && state.failed === 0,
      `every chart rendered by vega-embed (${state.rendered} of ${state.charts}` +
      (state.errors.length ? '; ' + state.errors.join('; ') : '') + ')');
  const charts = await page.evaluate(() => Array.from(document.querySelectorAll('.chart')).map(el => {
    const svg = el.querySelector('svg.marks'), cv = el.querySelector('canvas.marks');
    let ok = false, why = 'no canvas or svg';
    if (cv) {
      const r = cv.getBoundingClientRect();
      const ctx = cv.getContext('2d');
      const d = ctx.getImageData(0, 0, cv.width, cv.height).data;
      let ink = 0;
      for (let i = 0; i < d.length; i += 16) if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) ink++;
      ok = r.width > 50 && r.height > 50 && ink > 50;
      why = `canvas ${Math.round(r.width)}x${Math.round(r.height)}, ${ink} inked samples`;
    } else if (svg) {
      const r = svg.getBoundingClientRect();
      ok = r.width > 50 && r.height > 50 && svg.querySelectorAll('path').length > 0;
      why = `svg ${Math.round(r.width)}x${Math.round(r.height)}`;
    }
    return { id: el.id, ok, why };
  }));
  const bad = charts.filter(c => !c.ok);
  tap(charts.length > 0 && bad.length === 0,
      `every chart container has a non-blank canvas or SVG (${charts.length - bad.length} of ${charts.length}` +
      (bad.length ? '; e.g. ' + bad.slice(0, 3).map(c => c.id + ': ' + c.why).join(', ') : '') + ')');
  const table = await page.evaluate(() => {
    const t = document.getElementById('cs-runs');
    if (!t) return null;
    const rows = t.tBodies[0].rows.length;
    const filter = document.getElementById('cs-filter');
    filter.value = 'eos';
    filter.dispatchEvent(new Event('input'));
    const shown = Array.from(t.tBodies[0].rows).filter(r => !r.hidden).length;
    filter.value = '';
    filter.dispatchEvent(new Event('input'));
    const th = t.tHead.rows[0].cells[0];
    th.click(); th.click(); /* id descending */
    const ids = Array.from(t.tBodies[0].rows).map(r => Number(r.cells[0].dataset.v));
    const desc = ids.every((v, i) => i === 0 || ids[i - 1] >= v);
    th.click();
    const links = t.querySelectorAll('a[href^="#run-"]').length;
    return { rows, shown, desc, links };
  });
  tap(table && table.rows > 0 && table.links === table.rows,
      `run table present (${table ? table.rows : 0} runs, each linking to its section)`);
  tap(table && table.shown > 0 && table.shown < table.rows && table.desc,
      `run table filters (${table ? table.shown : 0} rows match "eos") and sorts`);
  const nasty = await page.evaluate(() => document.body.textContent.includes('<script>alert(1)</script>'));
  tap(nasty, 'a run named <script>alert(1)</script> shows as text');
  await page.screenshot({ path: shot, fullPage: false });
  tap(fs.existsSync(shot) && fs.statSync(shot).size > 10000, `screenshot saved to ${shot}`);
  tap(errors.length === 0, `no console errors, page errors or dialogs (${errors.length}` +
      (errors.length ? ': ' + errors.slice(0, 3).join(' | ') : '') + ')');
  tap(requests.length === 0, `no network requests (${requests.length}` +
      (requests.length ? ': ' + requests.slice(0, 3).join(', ') : '') + ')');
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(`# count ${printed}`);
})().catch(e => {
  tap(false, 'browser check crashed: ' + String(e).split('\n')[0]);
  console.log(`# count ${printed}`);
  process.exit(1);
});
