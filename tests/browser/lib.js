// lib.js: what the browser checks share: TAP lines numbered from a given start, Debian's
// chromium headless on a fresh profile with networking features off, and watchers of a
// page's console errors, page errors, dialogs and network requests.
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');
const { chromium } = require('playwright-core');

// TAP lines "ok N - msg" from `first`; end() prints "# count N" (lines printed), which
// tests/e2e_report.sh adds to its own count.
function tapper(first) {
  let n = Number(first || 1) - 1, printed = 0;
  return {
    ok(cond, msg) {
      n++; printed++;
      console.log(`${cond ? '' : 'not '}ok ${n} - ${msg}`);
      return cond;
    },
    end() { console.log(`# count ${printed}`); }
  };
}

// A persistent context on a fresh profile; on failure prints a failing TAP line and exits.
async function launch(t, viewport) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-chromium-'));
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage'];
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args,
      viewport: viewport || { width: 1400, height: 1000 }, timeout: 60000 });
  } catch (e) {
    t.ok(false, 'chromium starts: ' + String(e).split('\n')[0]);
    t.end();
    process.exit(1);
  }
  const page = ctx.pages()[0] || await ctx.newPage();
  return {
    ctx, page,
    async close() {
      await ctx.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  };
}

// Collects what must not happen on the page: console errors, page errors, dialogs, and
// requests other than file:, data: and blob: URLs.
function watch(page) {
  const errors = [], requests = [];
  page.on('console', m => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  page.on('pageerror', e => errors.push('page error: ' + e));
  page.on('dialog', d => { errors.push('dialog opened: ' + d.message()); d.dismiss(); });
  page.on('request', r => {
    const u = r.url();
    if (!u.startsWith('file:') && !u.startsWith('data:') && !u.startsWith('blob:')) requests.push(u);
  });
  return { errors, requests };
}

// Runs main(t); a crash becomes a failing TAP line.
function run(first, main) {
  const t = tapper(first);
  main(t).then(() => t.end()).catch(e => {
    t.ok(false, 'browser check crashed: ' + String(e && e.stack || e).split('\n').slice(0, 3).join(' | '));
    t.end();
    process.exit(1);
  });
}

// In the page (page.evaluate(chartInk, selector)): for each chart container matching the
// selector, whether it drew: a canvas with ink (or an SVG with paths) larger than 50 px.
function chartInk(selector) {
  return Array.from(document.querySelectorAll(selector)).map(el => {
    const svg = el.querySelector('svg.marks'), cv = el.querySelector('canvas.marks');
    let ok = false, why = 'no canvas or svg';
    if (cv) {
      const r = cv.getBoundingClientRect();
      const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
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
  });
}

module.exports = { launch, watch, run, chartInk };
