/* report.js: turns the report's chart descriptors into Vega-Lite charts, and makes the
 * run index sortable and filterable. Embedded by report/gen_assets.py after the vega,
 * vega-lite and vega-embed builds. No network: everything it needs is in the page.
 *
 * Descriptor (written by report/*.c): {title, x, y, log, kind, lines: [[dataset, label,
 * multiplier?], ...], dashed: [[dataset, label]], bands: [[start, end, phase]], hrule}.
 * Datasets are columnar: data.ds[key] = [[x...], [y...]].
 * window.curvscope.renderAll() renders every chart (the browser test uses it); otherwise
 * charts render as they scroll into view. */
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('cs-data').textContent);
  var statusEl = document.getElementById('cs-status');
  var state = { charts: 0, rendered: 0, failed: 0, errors: [] };

  function points(list, rows, log) {
    (list || []).forEach(function (l) {
      var s = data.ds[l[0]];
      if (!s) return;
      var mul = l.length > 2 ? l[2] : 1, xs = s[0], ys = s[1];
      for (var i = 0; i < xs.length; i++) {
        var y = ys[i];
        if (y === null || xs[i] === null) continue;
        y *= mul;
        if (log && !(y > 0)) continue;
        rows.push({ x: xs[i], y: y, s: l[1] });
      }
    });
    return rows;
  }

  function spec(d) {
    var x = { field: 'x', type: 'quantitative', title: d.x || 'step', scale: { zero: false } };
    var y = { field: 'y', type: 'quantitative', title: d.y || '',
              scale: d.log ? { type: 'log' } : { zero: false } };
    var color = { field: 's', type: 'nominal', title: null, sort: null };
    var tooltip = [{ field: 's', title: 'series' }, { field: 'x', title: d.x || 'step' },
                   { field: 'y', title: d.y || 'value', format: '.5g' }];
    var layers = [];
    if (d.bands && d.bands.length) {
      layers.push({
        data: { values: d.bands.map(function (b) { return { a: b[0], b: b[1], phase: String(b[2]) }; }) },
        mark: { type: 'rect', opacity: 0.2 },
        encoding: { x: { field: 'a', type: 'quantitative' }, x2: { field: 'b' },
                    color: { field: 'phase', type: 'nominal', scale: { scheme: 'set2' },
                             legend: { title: 'phase' } } }
      });
    }
    layers.push({
      data: { values: points(d.lines, [], d.log) },
      mark: { type: 'line', clip: true, strokeWidth: 1.4, interpolate: 'linear' },
      encoding: { x: x, y: y, color: color, tooltip: tooltip },
      params: [{ name: 'zoom', select: 'interval', bind: 'scales' }]
    });
    if (d.dashed && d.dashed.length) {
      layers.push({
        data: { values: points(d.dashed, [], d.log) },
        mark: { type: 'line', clip: true, strokeDash: [6, 4], strokeWidth: 1.6 },
        encoding: { x: x, y: y, color: color, tooltip: tooltip }
      });
    }
    if (typeof d.hrule === 'number') {
      layers.push({ data: { values: [{ r: d.hrule }] },
                    mark: { type: 'rule', strokeDash: [4, 4], color: '#555' },
                    encoding: { y: { field: 'r', type: 'quantitative' } } });
    }
    return {
      width: 'container', height: 230, title: d.title, layer: layers,
      resolve: { scale: { color: 'independent' } },
      config: { legend: { orient: 'bottom', labelLimit: 260 }, title: { fontSize: 13 } }
    };
  }

  function render(el) {
    if (el._cs) return el._cs;
    var d = data.charts[el.id];
    if (!d) {
      el._cs = Promise.resolve();
      return el._cs;
    }
    el.dataset.state = 'pending';
    el._cs = vegaEmbed(el, spec(d), {
      mode: 'vega-lite', renderer: 'canvas',
      actions: { export: true, source: false, compiled: false, editor: false }
    }).then(function () {
      el.dataset.state = 'done';
      state.rendered++;
    }).catch(function (e) {
      el.dataset.state = 'error';
      state.failed++;
      state.errors.push(el.id + ': ' + e);
      el.textContent = 'chart failed: ' + e;
    }).then(showStatus);
    return el._cs;
  }

  function showStatus() {
    if (statusEl) statusEl.textContent = state.rendered + ' of ' + state.charts + ' charts drawn' +
      (state.failed ? ', ' + state.failed + ' failed' : '') + '.';
  }

  function renderAll() {
    var els = Array.prototype.slice.call(document.querySelectorAll('.chart'));
    return Promise.all(els.map(render)).then(function () { return state; });
  }

  var charts = document.querySelectorAll('.chart');
  state.charts = charts.length;
  window.curvscope = { state: state, renderAll: renderAll, spec: spec };
  if ('IntersectionObserver' in window) {
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) {
          io.unobserve(e.target);
          render(e.target);
        }
      });
    }, { rootMargin: '600px 0px' });
    Array.prototype.forEach.call(charts, function (el) { io.observe(el); });
  } else {
    renderAll();
  }
  showStatus();

  /* ---- run index: sort by clicking a heading, filter by text ---- */
  var table = document.getElementById('cs-runs');
  if (!table) return;
  var body = table.tBodies[0], filter = document.getElementById('cs-filter');
  var count = document.getElementById('cs-count');
  function sortBy(col, th) {
    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var ca = a.cells[col], cb = b.cells[col];
      var va = ca.dataset.v, vb = cb.dataset.v;
      if (va !== undefined || vb !== undefined) {
        if (va === undefined) return 1;          /* empty cells last */
        if (vb === undefined) return -1;
        return dir * (parseFloat(va) - parseFloat(vb));
      }
      return dir * ca.textContent.localeCompare(cb.textContent);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
    th.tabIndex = 0;
    th.title = 'sort';
    th.addEventListener('click', function () { sortBy(i, th); });
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sortBy(i, th); });
  });
  function applyFilter() {
    var q = (filter.value || '').toLowerCase(), shown = 0;
    Array.prototype.forEach.call(body.rows, function (r) {
      var on = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
      r.hidden = !on;
      shown += on;
    });
    count.textContent = shown + ' of ' + body.rows.length + ' runs';
  }
  if (filter) filter.addEventListener('input', applyFilter);
  applyFilter();
})();
