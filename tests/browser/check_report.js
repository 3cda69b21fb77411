// check_report.js: opens a curvscope report headless in Debian's chromium (file:// URL,
// no network) and prints TAP lines: no console errors or dialogs, no network requests,
// every chart rendered (a non-blank canvas or non-empty SVG per .chart container), the
// run table present and working, what the charts of the real runs draw (read from each
// chart's Vega scenegraph: sparse series as points, analyze results as their own
// diamonds, Adam's phases on the preconditioned chart only), and a screenshot saved.
//
// usage: node check_report.js REPORT.html SCREENSHOT.png [FIRST_TAP_NUMBER]
// The real runs are found by name: adam-eos, gd-diverges, gd-eos (tests/e2e_report.sh).
// Prints "ok N - ..." lines and, last, "# count N" with the number of lines printed.
'use strict';
const path = require('path');
const fs = require('fs');
const { launch, watch, run } = require('./lib');

const [report, shot, first] = process.argv.slice(2);

// In the page: for every run (by name) and sub-section, for each of its charts, the
// count of drawn data marks by "marktype|series|mark|dashed" (e.g. "symbol|λ1
// (sharpness)|points|0"); "rect|phase" for phase bands.
function drawnMarks() {
  function count(view) {
    const c = {};
    (function walk(mark) {
      if (mark.marktype && mark.role === 'mark') {
        for (const it of mark.items || []) {
          const d = it.datum || {};
          const k = mark.marktype === 'rect' && d.phase !== undefined ? 'rect|phase'
            : [mark.marktype, d.s, d.m, d.d].join('|');
          c[k] = (c[k] || 0) + 1;
        }
      }
      for (const it of mark.items || []) for (const m of it.items || []) walk(m);
    })(view.scenegraph().root);
    return c;
  }
  const runs = {};
  for (const sec of document.querySelectorAll('section.run')) {
    const name = sec.querySelector('h2').textContent.replace(/^#\d+\s*/, '');
    const subs = {};
    for (const sub of sec.querySelectorAll('section.sub')) {
      subs[sub.id.replace(/^run-\d+-/, '')] =
        Array.from(sub.querySelectorAll('.chart')).map(el => el._view ? count(el._view) : null);
    }
    runs[name] = subs;
  }
  return runs;
}

// Sum of the counts whose key matches re.
function total(c, re) {
  return Object.keys(c || {}).filter(k => re.test(k)).reduce((s, k) => s + c[k], 0);
}

run(first, async t => {
  const b = await launch(t);
  const page = b.page;
  const w = watch(page);
  const url = 'file://' + path.resolve(report);
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load', timeout: 120000 });
  const loadMs = Date.now() - t0;
  t.ok(await page.evaluate(() => !!window.curvscope), `page loads and runs its script (${loadMs} ms)`);
  const state = await page.evaluate(() => window.curvscope.renderAll().then(s => ({
    charts: s.charts, rendered: s.rendered, failed: s.failed, errors: s.errors.slice(0, 5) })));
  t.ok(state.charts > 0 && state.rendered === state.charts && state.failed === 0,
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
  t.ok(charts.length > 0 && bad.length === 0,
       `every chart container has a non-blank canvas or SVG (${charts.length - bad.length} of ${charts.length}` +
       (bad.length ? '; e.g. ' + bad.slice(0, 3).map(c => c.id + ': ' + c.why).join(', ') : '') + ')');

  // ---- what the real runs' charts draw ----
  const runs = await page.evaluate(drawnMarks);
  const div = runs['gd-diverges'] || {}, gd = runs['gd-eos'] || {}, adam = runs['adam-eos'] || {};
  const divSharp = (div.sharpness || [])[0];
  t.ok(total(divSharp, /^symbol\|λ1 \(sharpness\)\|points\|0$/) === 1 &&
       total(divSharp, /^symbol\|threshold 2\/η\|points\|1$/) === 1,
       `a diverged run's single sharpness and its threshold are drawn as points (${JSON.stringify(divSharp)})`);
  const gdSharp = (gd.sharpness || [])[0];
  t.ok(total(gdSharp, /^symbol\|λ5 analyze \(checkpoint\)\|checkpoint\|/) === 2 &&
       total(gdSharp, /^symbol\|λ1 analyze \(checkpoint\)\|checkpoint\|/) === 2 &&
       total(gdSharp, /^line\|.*analyze/) === 0 && total(gdSharp, /^line\|λ1 \(sharpness\)\|line\|/) > 20,
       'analyze --top 5 at two checkpoints: diamonds for λ1..λ5 on the chart of the probe\'s line, ' +
       `never joined (λ5: ${total(gdSharp, /^symbol\|λ5 analyze/)} points, ` +
       `probe line: ${total(gdSharp, /^line\|λ1 \(sharpness\)/)} points)`);
  const trace = (gd.trace || [])[0];
  t.ok(total(trace, /^symbol\|trace/) === 2 && total(trace, /^rule\|trace/) === 2,
       `the two traces are points with ± standard-error bars (${JSON.stringify(trace)})`);
  const loss = (gd.training || [])[0];
  t.ok(total(loss, /^symbol\|test\|linepoints\|/) >= 3 && total(loss, /^symbol\|train\|/) === 0,
       'test loss (every 50 steps) shows its points, train loss (every step) is a line ' +
       `(${total(loss, /^symbol\|test/)} test points)`);
  const pre = (adam.precond || [])[0], raw = (adam.sharpness || [])[0];
  t.ok(total(pre, /^rect\|phase$/) > 0 && total(pre, /^(line|symbol)\|Adam's threshold 38\/η\|\w+\|1$/) > 0 &&
       raw && total(raw, /^rect\|phase$/) === 0 && total(raw, /\|1$/) === 0,
       'Adam: phases and 38/η on the preconditioned-sharpness chart; none, and no 2/η, on the raw one ' +
       `(precond bands ${total(pre, /^rect/)}, raw bands ${total(raw, /^rect/)}, raw dashed ${total(raw, /\|1$/)})`);

  // ---- the run table ----
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
  t.ok(table && table.rows > 0 && table.links === table.rows,
       `run table present (${table ? table.rows : 0} runs, each linking to its section)`);
  t.ok(table && table.shown > 0 && table.shown < table.rows && table.desc,
       `run table filters (${table ? table.shown : 0} rows match "eos") and sorts`);
  const nasty = await page.evaluate(() => document.body.textContent.includes('<script>alert(1)</script>'));
  t.ok(nasty, 'a run named <script>alert(1)</script> shows as text');
  await page.screenshot({ path: shot, fullPage: false });
  t.ok(fs.existsSync(shot) && fs.statSync(shot).size > 10000, `screenshot saved to ${shot}`);
  t.ok(w.errors.length === 0, `no console errors, page errors or dialogs (${w.errors.length}` +
       (w.errors.length ? ': ' + w.errors.slice(0, 3).join(' | ') : '') + ')');
  t.ok(w.requests.length === 0, `no network requests (${w.requests.length}` +
       (w.requests.length ? ': ' + w.requests.slice(0, 3).join(', ') : '') + ')');
  await b.close();
});
