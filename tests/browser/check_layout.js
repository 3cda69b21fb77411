// check_layout.js: a curvscope report as a reader with a narrow window sees it. Prints
// TAP lines. At an 800 px wide viewport, after drawing every chart: no sideways
// scrolling (document.scrollWidth <= 800) and every chart inside its box and the
// window; every number in the rendered text (HTML and the text Vega draws: axes,
// legends, titles) by the report's rule (at most 4 significant digits, no 17-digit
// floats); then, for each run named, every chart of its section drawn (a non-blank
// canvas) and the section screenshotted to a PNG named in the TAP line.
//
// usage: node check_layout.js REPORT.html OUTDIR PREFIX NAME[,NAME...] [FIRST_TAP_NUMBER]
// NAME: a run's name (its section's heading without the #id), or "*" for every run.
// Screenshots: OUTDIR/PREFIX_top.png (the top of the page) and OUTDIR/PREFIX_<name>.png.
'use strict';
const path = require('path');
const fs = require('fs');
const { launch, watch, run, chartInk } = require('./lib');

const [report, outdir, prefix, names, first] = process.argv.slice(2);
const WIDTH = 800;

// In the page: every number in the rendered text with more than 4 significant digits.
function longNumbers() {
  const texts = [document.body.innerText];
  for (const el of document.querySelectorAll('.chart')) {
    if (!el._view) continue;
    (function walk(mark) {
      if (mark.marktype === 'text')
        for (const it of mark.items || []) if (it.text !== undefined) texts.push([].concat(it.text).join(' '));
      for (const it of mark.items || []) for (const m of it.items || []) walk(m);
    })(el._view.scenegraph().root);
  }
  const bad = [];
  for (const t of texts) {
    for (const m of t.match(/\d*\.\d+/g) || []) {
      const digits = m.replace('.', '').replace(/^0+/, '');
      if (digits.length > 4) bad.push(m);
    }
  }
  return { bad, texts: texts.length };
}

run(first, async t => {
  const b = await launch(t, { width: WIDTH, height: 1000 });
  const page = b.page;
  const w = watch(page);
  await page.goto('file://' + path.resolve(report), { waitUntil: 'load', timeout: 120000 });
  const state = await page.evaluate(() => window.curvscope.renderAll().then(s => ({
    charts: s.charts, rendered: s.rendered, failed: s.failed, errors: s.errors.slice(0, 3) })));
  t.ok(state.charts > 0 && state.rendered === state.charts && state.failed === 0,
       `${path.basename(report)} at ${WIDTH} px: every chart drawn (${state.rendered} of ${state.charts}` +
       (state.errors.length ? '; ' + state.errors.join('; ') : '') + ')');
  const fit = await page.evaluate(() => {
    const sw = document.documentElement.scrollWidth, vw = window.innerWidth;
    const over = [];
    for (const el of document.querySelectorAll('.chart')) {
      const box = el.getBoundingClientRect();
      const drawn = el.querySelector('canvas.marks, svg.marks');
      const r = drawn ? drawn.getBoundingClientRect() : box;
      if (r.right > box.right + 1 || r.left < box.left - 1 || box.right > vw || box.left < 0)
        over.push(`${el.id}: ${Math.round(r.left)}..${Math.round(r.right)} in ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
    return { sw, vw, over, n: document.querySelectorAll('.chart').length };
  });
  t.ok(fit.sw <= WIDTH, `no sideways scrolling at ${WIDTH} px (document.scrollWidth ${fit.sw})`);
  t.ok(fit.over.length === 0, `every chart fits its box and the window (${fit.n - fit.over.length} of ${fit.n}` +
       (fit.over.length ? '; ' + fit.over.slice(0, 3).join(', ') : '') + ')');
  const nums = await page.evaluate(longNumbers);
  t.ok(nums.bad.length === 0, `every number in the rendered text (page and ${nums.texts - 1} chart labels) ` +
       `has at most 4 significant digits` + (nums.bad.length ? ` (not: ${nums.bad.slice(0, 5).join(', ')})` : ''));

  fs.mkdirSync(outdir, { recursive: true });
  const top = path.join(outdir, `${prefix}_top.png`);
  await page.screenshot({ path: top });
  t.ok(fs.statSync(top).size > 10000, `screenshot of the top of the page: ${top}`);
  const all = await page.evaluate(() => Array.from(document.querySelectorAll('section.run')).map(s =>
    ({ id: s.id, name: s.querySelector('h2').textContent.replace(/^#\d+\s*/, '') })));
  const want = names === '*' ? all.map(r => r.name) : names.split(',');
  for (const name of want) {
    const sec = all.find(r => r.name === name);
    if (!t.ok(!!sec, `run "${name}" has a section`)) continue;
    const ink = await page.evaluate(chartInk, '#' + sec.id + ' .chart');
    const bad = ink.filter(c => !c.ok);
    const file = path.join(outdir, `${prefix}_${name.replace(/[^A-Za-z0-9_.-]+/g, '_')}.png`);
    await page.locator('#' + sec.id).screenshot({ path: file });
    t.ok(ink.length > 0 && bad.length === 0 && fs.statSync(file).size > 10000,
         `run "${name}": each of its ${ink.length} charts drawn` +
         (bad.length ? ` (not: ${bad.slice(0, 3).map(c => c.id + ': ' + c.why).join(', ')})` : '') +
         `; screenshot ${file}`);
  }
  t.ok(w.errors.length === 0, `no console errors, page errors or dialogs (${w.errors.length}` +
       (w.errors.length ? ': ' + w.errors.slice(0, 3).join(' | ') : '') + ')');
  t.ok(w.requests.length === 0, `no network requests (${w.requests.length})`);
  await b.close();
});
