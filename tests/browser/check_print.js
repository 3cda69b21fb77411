// check_print.js: printing a curvscope report (or saving it as PDF) shows every chart,
// although charts are drawn only as they scroll into view. Prints TAP lines.
//
// It prints the page to an A4 PDF right after loading (most charts not yet drawn), then
// again after drawing every chart on screen (window.curvscope.renderAll), rasterises both
// with poppler's pdftoppm and compares the ink of each page: a chart left blank by the
// print leaves its page lighter than the same page of the fully drawn print.
//
// usage: node check_print.js REPORT.html PAGE.png [FIRST_TAP_NUMBER]
// PAGE.png: the most inked page of the first PDF, to look at. Needs pdftoppm on the PATH.
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');
const { execFileSync } = require('child_process');
const { launch, watch, run } = require('./lib');

const [report, png, first] = process.argv.slice(2);
const pdfOpts = { format: 'A4', printBackground: true,
                  margin: { top: '12mm', bottom: '12mm', left: '10mm', right: '10mm' } };

// Ink (pixels darker than light gray) of each page of a PDF rasterised at 40 dpi.
function pageInk(pdf, dir) {
  const prefix = path.join(dir, path.basename(pdf, '.pdf'));
  execFileSync('pdftoppm', ['-r', '40', '-gray', pdf, prefix]);
  return fs.readdirSync(dir).filter(f => f.startsWith(path.basename(prefix) + '-') && f.endsWith('.pgm'))
    .sort((a, b) => Number(a.match(/-(\d+)\.pgm$/)[1]) - Number(b.match(/-(\d+)\.pgm$/)[1]))
    .map(f => {
      const buf = fs.readFileSync(path.join(dir, f));
      // binary PGM: "P5" width height maxval, each after whitespace, then the pixels
      const head = buf.slice(0, 64).toString('latin1').match(/^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/);
      let ink = 0;
      for (let i = head[0].length; i < buf.length; i++) if (buf[i] < 200) ink++;
      return ink;
    });
}

run(first, async t => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-print-'));
  const b = await launch(t);
  const page = b.page;
  const w = watch(page);
  const url = 'file://' + path.resolve(report);
  await page.goto(url, { waitUntil: 'load', timeout: 120000 });
  const before = await page.evaluate(() => window.curvscope.state.rendered);
  const lazy = path.join(dir, 'lazy.pdf'), full = path.join(dir, 'full.pdf');
  await page.pdf({ path: lazy, ...pdfOpts });
  const after = await page.evaluate(() => ({ ...window.curvscope.state, errors: undefined }));
  t.ok(before < after.charts && after.rendered === after.charts && after.failed === 0,
       `printing draws every chart first (${before} of ${after.charts} drawn on load, ` +
       `${after.rendered} when printed)`);

  await page.reload({ waitUntil: 'load', timeout: 120000 });
  await page.evaluate(() => window.curvscope.renderAll());
  await page.pdf({ path: full, ...pdfOpts });
  const inkLazy = pageInk(lazy, dir), inkFull = pageInk(full, dir);
  // A chart the print left blank makes its page lighter (and an empty chart box takes no
  // room, so the print has fewer pages); charts drawn while printing come out as vector
  // graphics, a little darker than the bitmaps of charts drawn on screen, so only less
  // ink than the full print is a failure.
  const ratio = inkFull.map((f, i) => (inkLazy[i] || 0) / Math.max(f, 1));
  const worst = ratio.reduce((m, v, i) => (v < ratio[m] ? i : m), 0);
  t.ok(inkLazy.length === inkFull.length && inkFull.length > 1 && ratio.every(v => v > 0.9),
       `each of the ${inkFull.length} pages printed straight after loading has the ink of the ` +
       `fully drawn print (${inkLazy.length} pages; lightest page ${worst + 1}: ` +
       `${inkLazy[worst]} vs ${inkFull[worst]} dark pixels)`);

  const most = String(inkLazy.reduce((m, v, i) => (v > inkLazy[m] ? i : m), 0) + 1);
  execFileSync('pdftoppm', ['-r', '60', '-png', '-f', most, '-l', most, '-singlefile', lazy,
                            png.replace(/\.png$/, '')]);
  t.ok(fs.existsSync(png) && fs.statSync(png).size > 10000,
       `the most inked page of the print (page ${most}) saved to ${png}`);
  t.ok(w.errors.length === 0, `no errors while printing (${w.errors.length}` +
       (w.errors.length ? ': ' + w.errors.slice(0, 3).join(' | ') : '') + ')');
  await b.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
