// check_report.js: opens a curvscope report headless in Debian's chromium (file:// URL,
// no network) and prints TAP lines: no console errors or dialogs, no network requests,
// every chart rendered (a non-blank canvas or non-empty SVG per .chart container), the
// run table present and working, what the charts of the real runs draw (read from each
// chart's Vega scenegraph: sparse series as points, analyze results as their own
// diamonds, Adam's phases on the preconditioned chart only), and a screenshot saved.
//
// usage: node check_report.js REPORT.html SCREENSHOT.png [FIRST_TAP_NUMBER]
// The real runs are found by name: adam-eos, gd-diverges, gd-eos, batch-scaling
// (tests/e2e_report.sh).
// Prints "ok N - ..." lines and, last, "# count N" with the number of lines printed.
'use strict';
const path = require('path');
const fs = require('fs');
const { launch, watch, run, chartInk } = require('./lib');

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

// In the page: how the sharpness chart of run `name` is laid out, from its Vega
// scenegraph in page pixels: the plot areas of its panels (x, width), the x of each EoS
// onset rule, each threshold (its y inside its panel, the panel's height, dash and
// color), and the legend swatches drawn dashed.
function sharpnessLayout(name) {
  const sec = Array.from(document.querySelectorAll('section.run'))
    .find(s => s.querySelector('h2').textContent.replace(/^#\d+\s*/, '') === name);
  const el = sec && sec.querySelector('section.sub.sharpness .chart, section.sub.precond .chart');
  if (!el || !el._view) return null;
  const out = { panels: [], onset: [], thresholds: [], swatches: 0 };
  (function walk(mark, ox, oy, panel) {
    for (const it of mark.items || []) {
      const x = ox + (it.x || 0), y = oy + (it.y || 0);
      const d = it.datum || {};
      if (mark.marktype === 'group' && /^concat_\d+_group$/.test(mark.name || ''))
        out.panels.push({ x, width: it.width, height: it.height });
      if (mark.role === 'mark' && mark.marktype === 'rule' && d.m === 'onset') out.onset.push(x);
      if (mark.role === 'mark' && mark.marktype === 'rule' && d.d === 1)
        out.thresholds.push({ s: d.s, y: it.y, h: panel ? panel.height : NaN,
                              dash: String(it.strokeDash || ''), stroke: it.stroke });
      if (mark.role === 'legend-symbol' && it.strokeDash && String(it.strokeDash) !== '' &&
          String(it.strokeDash) !== '1,0') out.swatches++;
      const p = mark.marktype === 'group' && /^concat_\d+_group$/.test(mark.name || '') ? it : panel;
      for (const m of it.items || []) walk(m, x, y, p);
    }
  })(el._view.scenegraph().root, 0, 0, null);
  return out;
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
  const charts = await page.evaluate(chartInk, '.chart');
  const bad = charts.filter(c => !c.ok);
  t.ok(charts.length > 0 && bad.length === 0,
       `every chart container has a non-blank canvas or SVG (${charts.length - bad.length} of ${charts.length}` +
       (bad.length ? '; e.g. ' + bad.slice(0, 3).map(c => c.id + ': ' + c.why).join(', ') : '') + ')');

  // ---- what the real runs' charts draw ----
  const runs = await page.evaluate(drawnMarks);
  const div = runs['gd-diverges'] || {}, gd = runs['gd-eos'] || {}, adam = runs['adam-eos'] || {};
  const divSharp = (div.sharpness || [])[0];
  t.ok(total(divSharp, /^symbol\|λ1 \(sharpness\)\|points\|0$/) === 1 &&
       total(divSharp, /^rule\|threshold 2\/η\|rule\|1$/) === 1,
       `a diverged run's single sharpness is a point, its threshold a rule across the chart (${JSON.stringify(divSharp)})`);
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
  t.ok(total(pre, /^rect\|phase$/) > 0 && total(pre, /^(line|rule)\|Adam's threshold 38\/η\|\w+\|1$/) > 0 &&
       raw && total(raw, /^rect\|phase$/) === 0 && total(raw, /\|1$/) === 0,
       'Adam: phases and 38/η on the preconditioned-sharpness chart; none, and no 2/η, on the raw one ' +
       `(precond bands ${total(pre, /^rect/)}, raw bands ${total(raw, /^rect/)}, raw dashed ${total(raw, /\|1$/)})`);
  const bs = (runs['batch-scaling'] || {}).batch || [];
  t.ok(total(bs[0], /^symbol\|λmax of each draw\|points\|0$/) === 7 &&
       total(bs[0], /^symbol\|mean λ̄\(B\)\|points\|0$/) === 3 && total(bs[0], /^line\|fit .*\|1$/) > 10 &&
       total(bs[1], /^symbol\|(SGD|Adam): measured η_max\|points\|0$/) >= 2 &&
       total(bs[1], /^line\|SGD: predicted .*\|1$/) === 3 && total(bs[1], /^line\|Adam: predicted .*\|1$/) === 3,
       'batch scaling: every draw\'s λmax as a point (7), the means, the fit as a dashed curve; ' +
       `measured η_max as points against both predictions (${JSON.stringify(bs)})`);

  // ---- loss above sharpness on one step axis; thresholds grey, dashed, off the frame ----
  for (const name of ['gd-eos', 'adam-eos']) {
    const l = await page.evaluate(sharpnessLayout, name);
    const p = (l && l.panels) || [];
    t.ok(p.length === 2 && Math.abs(p[0].x - p[1].x) < 0.5 && Math.abs(p[0].width - p[1].width) < 0.5 &&
         l.onset.length === 2 && Math.abs(l.onset[0] - l.onset[1]) < 0.5,
         `${name}: loss and sharpness stacked on one step axis, the EoS-onset rule at one x in both ` +
         `(${JSON.stringify(l && { panels: p, onset: l.onset })})`);
    const th = (l && l.thresholds) || [];
    t.ok(th.length === 1 && th[0].dash === '6,4' && th[0].stroke === '#7a7a7a' && th[0].y > 3 &&
         th[0].y < th[0].h - 3 && l.swatches >= 1,
         `${name}: the threshold a grey dashed line inside the plot, never on its frame, with a dashed ` +
         `legend swatch (${JSON.stringify(th)}, ${l && l.swatches} dashed swatches)`);
  }

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
