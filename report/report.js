/* report.js: turns the report's chart descriptors into Vega-Lite charts, and makes the
 * run index sortable and filterable. Embedded by report/gen_assets.py after the vega,
 * vega-lite and vega-embed builds. No network: everything it needs is in the page.
 *
 * Descriptor (written by report/*.c): {title, x, y, log, logx, ymin, kind, lines:
 * [[dataset, label], ...], dashed: [[dataset, label]], bands: [[start, end, phase]], hrule,
 * vrule: [x, label], top: {y, log, lines}}; log and logx put y and x on log scales, ymin
 * starts the y axis there, dashed are thresholds (grey), vrule is the EoS onset, top a
 * panel stacked above on the same x axis (the training loss above the sharpness).
 * Datasets: data.ds[key] = {mark, brk, x: [...], y: [...], e: [...]}; mark says how the
 * series is drawn (the C side decides, docs/REPORT.md): "line", "linepoints" (points
 * joined by a thin line), "points", "checkpoint" (post-hoc values: diamonds, never
 * joined); brk lists the x where the line starts anew after a gap; e is y's ± error.
 * window.curvscope.renderAll() renders every chart (the browser test uses it); otherwise
 * charts render as they scroll into view, and all of them before the page is printed. */
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('cs-data').textContent);
  var statusEl = document.getElementById('cs-status');
  var state = { charts: 0, rendered: 0, failed: 0, errors: [] };

  /* Rows {x, y, s: label, m: mark, g: line segment, d: dashed, lo, hi: error bar}. */
  function points(list, rows, log, dashed, logx) {
    (list || []).forEach(function (l) {
      var s = data.ds[l[0]];
      if (!s) return;
      var brk = s.brk || [], b = 0, e = s.e;
      for (var i = 0; i < s.x.length; i++) {
        var x = s.x[i], y = s.y[i];
        while (b < brk.length && brk[b] <= x) b++;
        if (y === null || x === null || (log && !(y > 0)) || (logx && !(x > 0))) continue;
        var row = { x: x, y: y, s: l[1], m: s.mark || 'line', g: l[0] + '#' + b,
                    d: dashed ? 1 : 0 };
        if (e && e[i] !== null && e[i] > 0) {
          row.lo = y - e[i];
          row.hi = y + e[i];
          row.e = e[i];
          if (log && !(row.lo > 0)) row.lo = y; /* no lower bar below zero on a log axis */
        }
        rows.push(row);
      }
    });
    return rows;
  }

  /* The report's one rule for a number a reader sees, as the C side's rep_num: an
   * integer as an integer, anything else as C's "%.4g". Tooltips use it (formatType). */
  function fmtNum(v) {
    if (typeof v !== 'number') return String(v);
    if (!isFinite(v)) return isNaN(v) ? 'NaN' : v > 0 ? '∞' : '−∞';
    if (v === Math.floor(v) && Math.abs(v) < 1e15) return String(v);
    var ex = v.toExponential(3), m = ex.split('e'), e = Number(m[1]);
    var trim = function (t) { return t.indexOf('.') < 0 ? t : t.replace(/0+$/, '').replace(/\.$/, ''); };
    if (e < -4 || e >= 4)
      return trim(m[0]) + 'e' + (e < 0 ? '-' : '+') + (Math.abs(e) < 10 ? '0' : '') + Math.abs(e);
    return trim(v.toFixed(3 - e));
  }
  if (typeof vega !== 'undefined' && vega.expressionFunction)
    vega.expressionFunction('csnum', function (v) { return fmtNum(v); });

  /* The chart's series labels, in order, each once. */
  function labels(list) {
    return (list || []).map(function (l) { return l[1]; })
      .filter(function (s, i, all) { return all.indexOf(s) === i; });
  }

  var GREY = '#7a7a7a', DASH = [6, 4], ONSET = '#b42318';

  /* The layers of one panel: phase bands, the series (lines broken at gaps, points,
   * error bars), the dashed thresholds (grey; a constant one as a rule across the
   * panel), the horizontal rule, the vertical rule at the EoS onset (label: onsetLabel). */
  function panelLayers(d, onsetLabel) {
    /* padding (pixels): a point, error bar or threshold at the edge of the data stays
     * whole and off the frame */
    var x = { field: 'x', type: 'quantitative', title: d.x || 'step',
              scale: d.logx ? { type: 'log', padding: 10 }
                            : { zero: false, nice: false, padding: 10 } };
    var yscale = d.log ? { type: 'log', padding: 10 } : { zero: false, padding: 10 };
    if (typeof d.ymin === 'number') { yscale.domainMin = d.ymin; yscale.padding = 0; }
    var y = { field: 'y', type: 'quantitative', title: d.y || '', scale: yscale };
    /* one color per series on every layer: a fixed domain, the legend drawn once */
    var domain = labels(d.lines);
    var color = { field: 's', type: 'nominal', title: null, sort: null, scale: { domain: domain } };
    if (d.nolegend) color.legend = null;
    var quiet = { field: 's', type: 'nominal', sort: null, scale: { domain: domain },
                  legend: null };
    var tooltip = [{ field: 's', title: 'series' },
                   { field: 'x', title: d.x || 'step', formatType: 'csnum' },
                   { field: 'y', title: d.y || 'value', formatType: 'csnum' }];
    var rows = points(d.lines, [], d.log, false, d.logx);
    var layers = [];
    if (d.bands && d.bands.length) {
      layers.push({
        data: { values: d.bands.map(function (b) { return { a: b[0], b: b[1], phase: String(b[2]) }; }) },
        mark: { type: 'rect', opacity: 0.2 },
        encoding: { x: { field: 'a', type: 'quantitative' }, x2: { field: 'b' },
                    color: { field: 'phase', type: 'nominal', scale: { scheme: 'set2' },
                             legend: d.nolegend ? null : { title: 'phase' } } }
      });
    }
    /* dense series as lines, broken at gaps (one path per segment g); sparse ones keep a
     * thin line between their visible points; points and post-hoc values never joined */
    var drawn = [];
    function has(test) { return rows.some(test); }
    if (has(function (r) { return r.m === 'line' || r.m === 'linepoints'; })) {
      drawn.push({
        transform: [{ filter: "datum.m === 'line' || datum.m === 'linepoints'" }],
        mark: { type: 'line', clip: true, interpolate: 'linear' },
        encoding: { x: x, y: y, color: color, detail: { field: 'g' }, tooltip: tooltip,
                    strokeWidth: { condition: { test: "datum.m === 'linepoints'", value: 0.8 },
                                   value: 1.4 } }
      });
    }
    if (has(function (r) { return r.m !== 'line'; })) {
      drawn.push({
        transform: [{ filter: "datum.m !== 'line'" }],
        mark: { type: 'point', clip: true, filled: true, opacity: 0.9 },
        encoding: { x: x, y: y, color: drawn.length ? quiet : color, tooltip: tooltip,
                    shape: { condition: { test: "datum.m === 'checkpoint'", value: 'diamond' },
                             value: 'circle' },
                    size: { condition: { test: "datum.m === 'checkpoint'", value: 90 },
                            value: 26 } }
      });
    }
    if (has(function (r) { return r.lo !== undefined; })) {
      drawn.push({
        transform: [{ filter: 'isValid(datum.lo)' }],
        mark: { type: 'rule', clip: true, strokeWidth: 1.2 },
        encoding: { x: x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' },
                    color: quiet,
                    tooltip: tooltip.concat([{ field: 'e', title: '±', formatType: 'csnum' }]) }
      });
    }
    drawn.forEach(function (l, i) {
      l.data = { values: rows };
      if (i === 0) l.params = [{ name: 'zoom' + (d.panel || ''), select: 'interval', bind: 'scales' }];
      layers.push(l);
    });
    /* thresholds: grey dashed, their own legend with a dashed swatch; a constant one
     * (2/η, 38/η) is a rule across the panel, a varying one a line through its values */
    var dashedRows = points(d.dashed, [], d.log, true, d.logx), rules = [], curves = [];
    labels(d.dashed).forEach(function (lab) {
      var mine = dashedRows.filter(function (r) { return r.s === lab; });
      var constant = mine.length && mine.every(function (r) { return r.y === mine[0].y; });
      if (constant) rules.push({ y: mine[0].y, s: lab, m: 'rule', d: 1 });
      else curves = curves.concat(mine);
    });
    var dash = { field: 's', type: 'nominal', title: null, sort: null,
                 scale: { domain: labels(d.dashed), range: labels(d.dashed).map(function () { return DASH; }) },
                 legend: { symbolType: 'stroke', symbolStrokeColor: GREY, symbolStrokeWidth: 1.6,
                           symbolSize: 400 } };
    var dashTip = [{ field: 's', title: 'series' }, { field: 'y', title: 'value', formatType: 'csnum' }];
    if (rules.length) {
      layers.push({ data: { values: rules }, mark: { type: 'rule', color: GREY, strokeWidth: 1.4 },
                    encoding: { y: y, strokeDash: dash, tooltip: dashTip } });
    }
    if (curves.length) {
      layers.push({ data: { values: curves },
                    mark: { type: 'line', clip: true, color: GREY, strokeWidth: 1.4 },
                    encoding: { x: x, y: y, detail: { field: 'g' }, strokeDash: dash,
                                tooltip: dashTip } });
    }
    if (typeof d.hrule === 'number') {
      layers.push({ data: { values: [{ r: d.hrule }] },
                    mark: { type: 'rule', strokeDash: [4, 4], color: '#555' },
                    encoding: { y: { field: 'r', type: 'quantitative' } } });
    }
    if (d.vrule) {
      var on = [{ x: d.vrule[0], s: d.vrule[1], m: 'onset', d: 0 }];
      layers.push({ data: { values: on }, mark: { type: 'rule', color: ONSET, strokeWidth: 1.5 },
                    encoding: { x: x, tooltip: [{ field: 's', title: 'EoS onset' }] } });
      if (onsetLabel)
        layers.push({ data: { values: on },
                      mark: { type: 'text', color: ONSET, align: 'left', baseline: 'top', dx: 4,
                              dy: 3, fontSize: 11 },
                      encoding: { x: x, y: { value: 0 }, text: { field: 's' } } });
    }
    return layers;
  }

  /* Legends below the chart, in as many columns as its width holds, so a long legend
   * wraps instead of widening the page. */
  function config(width) {
    return { legend: { orient: 'bottom', labelLimit: 200, columns: Math.max(1, Math.floor((width || 600) / 190)) },
             title: { fontSize: 13, limit: Math.max(200, (width || 600) - 40) },
             axisY: { minExtent: 52, maxExtent: 52 }, customFormatTypes: true };
  }

  /* A descriptor's Vega-Lite spec. With d.top (the training loss above the sharpness):
   * two panels on one shared step axis, width in pixels from the container's width
   * (a concatenation cannot size itself to its container). */
  function spec(d, width) {
    if (d.top) {
      var w = Math.max(160, (width || 600) - 90);
      var top = {};
      Object.keys(d.top).forEach(function (k) { top[k] = d.top[k]; });
      top.bands = d.bands;
      top.vrule = d.vrule;
      top.x = ' ';
      top.panel = '_top';
      top.nolegend = 1; /* its one series is named by its axis; the phases' legend is below */
      return {
        title: d.title, config: config(width), spacing: 6,
        resolve: { scale: { x: 'shared' } },
        vconcat: [
          { width: w, height: 120, layer: panelLayers(top, true),
            resolve: { scale: { color: 'independent' } } },
          { width: w, height: 230, layer: panelLayers(d, false),
            resolve: { scale: { color: 'independent' } } }
        ]
      };
    }
    return {
      width: 'container', height: 230, title: d.title, layer: panelLayers(d, true),
      resolve: { scale: { color: 'independent' } }, config: config(width)
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
    el._cs = vegaEmbed(el, spec(d, el.clientWidth), {
      mode: 'vega-lite', renderer: 'canvas',
      actions: { export: true, source: false, compiled: false, editor: false }
    }).then(function (res) {
      el._view = res.view; /* the browser test reads the drawn marks from its scenegraph */
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
  window.curvscope = { state: state, renderAll: renderAll, spec: spec, data: data };
  /* Printing (or saving as PDF) lays out every chart, not only those scrolled into view:
   * draw the pending ones first. The data are inline, so vega renders within the
   * handler's microtasks, before the browser lays out the printed page. */
  window.addEventListener('beforeprint', renderAll);
  if (window.matchMedia) {
    var print = window.matchMedia('print');
    var onPrint = function (e) { if (e.matches) renderAll(); };
    if (print.addEventListener) print.addEventListener('change', onPrint);
    else if (print.addListener) print.addListener(onPrint);
  }
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
