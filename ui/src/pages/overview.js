// Overview: GoAccess's panels of the live tree — general statistics,
// visitors per day, requests, static files, not found, hosts, OS,
// browsers, time distribution, virtual hosts, referrers, status codes,
// geo, latency percentiles, slowest requests — read from /report (the
// same panels as `canopyd report`) and read again every tick. A panel
// without data says why; the others still draw.
import { request, fmtUnit } from '../api.js';
import { h, fmt, fmtClock, message, debounce } from '../dom.js';
import { uPlot, baseOpts } from '../chart.js';

const DEFAULT_TICK = 10; // s, canopyd's -trend.interval default
const TOPS = [5, 10, 20, 50];

// The panels /report writes when their pipe has data; geo and asn only
// with a geo database, so their cards say so when absent.
const ALWAYS = [
  ['geo', 'Geo location (countries, cities)', 'no geo database configured (the geo pipe\'s database grant: pipes-src/geo/README.md)'],
];

async function statusInfo() {
  try {
    const st = await (await request('/status', { cache: 'no-store' })).json();
    const s = Number(st?.trend?.interval_seconds);
    return { tick: s >= 0.1 ? s : DEFAULT_TICK, uptime: Number(st?.uptime_seconds) || 0 };
  } catch { return { tick: DEFAULT_TICK, uptime: 0 }; }
}

// cell writes a value in its column's unit; null is not known.
export function cell(v, unit) {
  if (v == null) return '—';
  switch (unit) {
    case 'bytes': return fmtUnit(v, 'B');
    case 'seconds': return fmtUnit(v, 's');
    case 'percent': return fmtUnit(v, '%');
    case 'code': return String(v);
    default: return fmt(v);
  }
}

// displayName is a row name as people read it (report.DisplayName).
export function displayName(n) {
  return n === '_other' ? '(other)' : n === '_unknown' ? '(unknown)' : n;
}

// chartUnit is api.js's unit for a report column, for chart axes.
function chartUnit(unit) {
  return unit === 'bytes' ? 'B' : unit === 'seconds' ? 's' : unit === 'percent' ? '%' : '';
}

export async function overview(main, state) {
  document.title = 'Overview · canopy';
  let top = 10;
  try { top = Number(new URLSearchParams(location.search).get('top')) || 10; } catch { /* default */ }
  const topSel = h('select', { id: 'ov-top', 'aria-label': 'Rows per panel' },
    TOPS.map((n) => h('option', { value: String(n), selected: n === top }, `top ${n}`)));
  const updatedEl = h('span', { id: 'ov-updated', text: '' });
  const errEl = h('div', { id: 'ov-error' });
  const figuresEl = h('div.figures', { id: 'ov-figures' });
  const panelsEl = h('div.panels', { id: 'ov-panels' });
  main.append(
    h('h1', null, 'Overview'),
    h('p.meta', null, 'The web-analytics panels of the live tree, as ', h('code', null, 'canopyd report'), ' writes them for an old log; counters since the tree began.'),
    h('div.toolbar', null, h('label', null, 'Rows ', topSel), h('span.hint', null, updatedEl)),
    errEl, figuresEl, panelsEl);

  const info = await statusInfo();
  const cards = new Map(); // panel id -> {el, body, chart, key}
  let prev = null; // {t, total, bytes}: the last figures, for rates
  let width = 0;
  const chartWidth = () => width || (width = Math.max(240, (cards.values().next().value?.el.clientWidth || 460) - 26));
  state.charts = [];
  state.overview = { refreshes: 0, report: null };

  function card(id, title) {
    let c = cards.get(id);
    if (c) { c.title.textContent = title; return c; }
    const titleEl = h('h2', { id: 'h-' + id, text: title });
    const body = h('div.panel-body');
    const el = h('section.card', { 'data-panel': id, 'aria-labelledby': 'h-' + id }, titleEl, body);
    c = { el, title: titleEl, body, chart: null, key: '' };
    cards.set(id, c);
    panelsEl.append(el);
    return c;
  }

  function empty(c, note) {
    if (c.chart) { c.chart.destroy(); c.chart = null; }
    c.key = '';
    c.body.replaceChildren(message('No data: ' + (note || 'nothing in the tree yet') + '.'));
    c.el.dataset.state = 'empty';
    c.el.dataset.rows = '0';
  }

  // A series (days, hours, weekdays) is a bar chart of its first column
  // over the rows in order; the chart is kept and fed new data while its
  // rows stay the same.
  function seriesChart(c, p) {
    const names = p.rows.map((r) => r.name);
    const data = [names.map((_, i) => i), p.rows.map((r) => r.values[0])];
    const key = names.join('\u0000');
    if (c.chart && c.key === key) { c.chart.setData(data); return; }
    if (c.chart) c.chart.destroy();
    const col = p.columns[0];
    const unit = chartUnit(col.unit);
    const opts = baseOpts({ width: chartWidth(), height: 170, labels: [col.name], style: { type: 'bar' }, units: [unit] });
    opts.scales.x = { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] };
    // Bars stand on zero: an auto range from the smallest value would
    // make 248 look a quarter of 252.
    opts.scales['u' + unit].range = (u, min, max) => [0, max > 0 ? max * 1.08 : 1];
    opts.axes[0].values = (u, splits) => splits.map((i) => (Number.isInteger(i) ? names[i] ?? '' : ''));
    opts.axes[0].space = 34;
    opts.series[0].value = (u, i) => (i == null ? '' : names[i] ?? '');
    const box = h('div.chart', { role: 'img', 'aria-label': `${p.title}, ${col.name} as bars` });
    c.body.replaceChildren(box);
    c.chart = new uPlot(opts, data, box);
    c.key = key;
  }

  // A table of rows (sub-rows indented) with a bar for each row's share:
  // its percent, else its first value against the largest.
  function table(p) {
    const pct = p.columns.findIndex((col) => col.unit === 'percent');
    const barCol = pct >= 0 ? pct : 0;
    const max = Math.max(0, ...p.rows.map((r) => Number(r.values[barCol]) || 0));
    const rows = [];
    const add = (r, depth) => {
      const v = Number(r.values[barCol]) || 0;
      const share = pct >= 0 ? v : max > 0 ? (v / max) * 100 : 0;
      rows.push(h('tr', { class: depth ? 'sub' : null },
        h('td.name', { title: r.name }, '\u2003'.repeat(depth) + displayName(r.name)),
        r.values.map((v, j) => h('td.num', null, cell(v, p.columns[j].unit))),
        h('td.share', null, h('span.bar', { style: `width:${Math.min(100, Math.max(0, share)).toFixed(2)}%` }))));
      for (const s of r.rows || []) add(s, depth + 1);
    };
    for (const r of p.rows) add(r, 0);
    return h('div.scroll', null, h('table.data.report', null,
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'name'),
        p.columns.map((col) => h('th.num', { scope: 'col' }, col.name)),
        h('th', { scope: 'col' }, h('span.sr', null, 'share')))),
      h('tbody', null, rows)));
  }

  function drawPanel(p) {
    const c = card(p.id, p.title);
    if (!p.rows || !p.rows.length) { empty(c, p.note); return; }
    c.el.dataset.state = 'data';
    c.el.dataset.rows = String(p.rows.length);
    if (p.chart === 'bars') { seriesChart(c, p); return; }
    if (c.chart) { c.chart.destroy(); c.chart = null; c.key = ''; }
    c.body.replaceChildren(table(p));
  }

  function figure(id, label, value, rate) {
    return h('div.figure', { 'data-figure': id },
      h('div.label', null, label),
      h('div.value', null, value),
      rate ? h('div.rate', null, rate) : null);
  }

  function drawFigures(o, now) {
    const rate = (cur, old, unit) => {
      if (!prev || now <= prev.t || cur < old) return '';
      return fmtUnit((cur - old) / ((now - prev.t) / 1000), unit);
    };
    const bytes = Number(o.bandwidth_bytes) || 0;
    figuresEl.replaceChildren(
      figure('total', 'Total requests', fmt(o.total_requests), rate(o.total_requests, prev?.total, 'req/s')),
      figure('valid', 'Valid requests', fmt(o.valid_requests)),
      figure('failed', 'Failed requests', fmt(o.failed_requests), 'since the daemon started'),
      figure('visitors', 'Unique visitors', fmt(o.unique_visitors ?? 0), 'sum of the days'),
      figure('bandwidth', 'Bandwidth', fmtUnit(bytes, 'B'), rate(bytes, prev?.bytes, 'B/s')),
      figure('pages', 'Pages · static · 404', `${fmt(o.page_hits ?? 0)} · ${fmt(o.static_hits ?? 0)} · ${fmt(o.not_found_hits ?? 0)}`),
      figure('reqtime', 'Request time (mean)', o.request_time_avg_seconds == null ? '—' : fmtUnit(o.request_time_avg_seconds, 's')),
      figure('upstream', 'Upstream time (mean)', o.upstream_time_avg_seconds == null ? '—' : fmtUnit(o.upstream_time_avg_seconds, 's')));
    prev = { t: now, total: o.total_requests, bytes };
  }

  function drawPanels(r) {
    const order = (r.panels || []).map((p) => p.id);
    for (const p of r.panels || []) drawPanel(p);
    for (const [id, title, note] of ALWAYS) {
      if (order.includes(id)) continue;
      empty(card(id, title), note);
      const at = order.indexOf('status');
      order.splice(at < 0 ? order.length : at + 1, 0, id);
    }
    // A panel gone from the report (geo's ASNs when the database changed)
    // leaves its card; the others follow the report's order.
    for (const [id, c] of cards) if (!order.includes(id)) { if (c.chart) c.chart.destroy(); c.el.remove(); cards.delete(id); }
    for (const id of order) panelsEl.append(cards.get(id).el);
    state.charts = [...cards.values()].map((c) => c.chart).filter(Boolean);
  }

  function draw(r) {
    const now = Date.now();
    drawFigures(r.overview || {}, now);
    drawPanels(r);
    state.overview.report = r;
    updatedEl.textContent = `updated ${fmtClock(now)}, every ${fmt(info.tick)} s`;
  }

  let busy = false;
  async function load() {
    if (busy) return;
    busy = true;
    try {
      const r = await (await request('/report?top=' + top, { cache: 'no-store' })).json();
      errEl.replaceChildren();
      draw(r);
      state.overview.refreshes++;
    } catch (e) {
      errEl.replaceChildren(message(String(e.message || e), 'error'));
    } finally { busy = false; }
  }

  topSel.addEventListener('change', () => {
    top = Number(topSel.value) || 10;
    const q = new URLSearchParams(location.search);
    q.set('top', String(top));
    history.replaceState(null, '', location.pathname + '?' + q);
    load();
  });
  window.addEventListener('resize', debounce(() => {
    width = 0;
    for (const c of cards.values()) if (c.chart) c.chart.setSize({ width: chartWidth(), height: 170 });
  }, 150));
  // Chart colours are read from the theme when a chart is made.
  window.addEventListener('canopy-theme', () => {
    for (const c of cards.values()) if (c.chart) { c.chart.destroy(); c.chart = null; c.key = ''; }
    if (state.overview.report) drawPanels(state.overview.report);
  });

  await load();
  state.ready = true;
  // Every tick, while the page is seen.
  setInterval(() => { if (!document.hidden) load(); }, info.tick * 1000);
}
