// One chart of a saved view (or of a key): compare with another key or with
// the same keys a day or a week earlier, zoom by dragging (double-click or
// Reset zoom to go back), time presets and auto-refresh, counters as rates
// or counts, units per series, a pattern's top N plus "other", p50/p95/p99
// for `le` buckets, style settings kept per chart, and links to the same
// graph drawn by the daemon as PNG, SVG and PDF.
import { listViews, trend, keyURL, getToken, isPattern, seriesUnit, seriesSummary, PRESETS, REFRESH } from '../api.js';
import { h, clear, fmt, debounce, rangeSeconds } from '../dom.js';
import { uPlot, baseOpts, align } from '../chart.js';

const SHIFTS = [[0, 'No time shift'], [86400, '1 day earlier'], [7 * 86400, '1 week earlier']];
const TOPS = [[5, 'top 5'], [10, 'top 10'], [20, 'top 20'], [50, 'top 50'], [0, 'all']];
const AS = [['rate', 'rate /s'], ['count', 'count'], ['total', 'total']];

export async function trendView(main, state, name) {
  const views = await listViews().catch(() => []);
  const view = views.find((v) => v.name === name);
  const baseKeys = view ? (view.keys || []) : [name];
  document.title = `${name} · trend · canopy`;
  const styleKey = 'canopy.style.' + name;
  let style = { type: view?.chart || 'line', width: 1.5, log: false };
  try { Object.assign(style, JSON.parse(localStorage.getItem(styleKey) || '{}')); } catch { /* bad JSON: defaults */ }
  const params = new URLSearchParams(location.search);
  let range = params.get('range') || view?.range || '-1d';
  if (!PRESETS.some(([v]) => v === range)) range = '-1d';
  let as = AS.some(([v]) => v === params.get('as')) ? params.get('as') : 'rate';
  let top = TOPS.some(([v]) => String(v) === params.get('top')) ? Number(params.get('top')) : 10;
  let refresh = 0;
  const compareKeys = [];
  let shift = 0;

  const sel = (id, label, opts, value, on) => h('label', null, label + ' ',
    h('select', { id, onchange: (e) => on(e.target.value) }, opts.map(([v, l]) => h('option', { value: String(v), selected: String(v) === String(value) }, l))));
  const compareIn = h('input', { type: 'text', id: 'compare-key', placeholder: 'another key, e.g. br,webkit', 'aria-label': 'Compare with key' });
  const compareList = h('span.chips', { id: 'compare-list' });
  const chartEl = h('div.chart.big', { id: 'tv-chart' });
  const note = h('p.hint', { id: 'tv-note' });
  const missing = h('ul.missing', { id: 'tv-missing', 'aria-label': 'Keys without data' });
  const links = h('p.links', { id: 'graph-links' });

  const zoomReset = h('button', { type: 'button', id: 'zoom-reset', onclick: () => { zoom = null; draw(); } }, 'Reset zoom');
  const presetBtns = PRESETS.map(([v, l]) => h('button.ghost', {
    type: 'button', 'data-range': v, 'aria-pressed': String(v === range),
    onclick: () => { range = v; for (const b of presetBtns) b.setAttribute('aria-pressed', String(b.dataset.range === v)); zoom = null; load(); },
  }, l));
  main.append(
    h('h1', null, view ? `View: ${name}` : `Trend: ${name}`),
    view ? h('p.meta', null, 'keys ', baseKeys.join('  '), ' · ', h('a', { href: '/realtime/view/' + encodeURIComponent(name) }, 'realtime'), ' · ', h('a', { href: '/setting/view#' + encodeURIComponent(name) }, 'edit view'))
      : h('p.meta', null, h('a', { href: '/realtime/' + keyURL(name) }, 'realtime')),
    h('section.card', null,
      h('div.toolbar', null,
        h('span.presets', { id: 'tv-range', role: 'group', 'aria-label': 'Range' }, presetBtns),
        zoomReset,
        sel('tv-as', 'Counters', AS, as, (v) => { as = v; load(); }),
        sel('tv-top', 'Patterns', TOPS, top, (v) => { top = Number(v); load(); }),
        sel('tv-refresh', 'Refresh', REFRESH, refresh, (v) => { refresh = Number(v); schedule(); }),
        sel('tv-shift', 'Compare', SHIFTS, shift, (v) => { shift = Number(v); load(); }),
        h('form.inline', { onsubmit: (e) => { e.preventDefault(); addCompare(compareIn.value.trim()); compareIn.value = ''; } },
          compareIn, h('button', { type: 'submit' }, 'Add')),
        compareList),
      chartEl, note, missing, links),
    h('details.card', { id: 'style' }, h('summary', null, 'Style'),
      h('div.toolbar', null,
        sel('st-type', 'Chart', [['line', 'Line'], ['area', 'Area'], ['bar', 'Bars'], ['points', 'Points']], style.type, (v) => setStyle({ type: v })),
        sel('st-width', 'Line width', [[1, '1'], [1.5, '1.5'], [2, '2'], [3, '3']], style.width, (v) => setStyle({ width: Number(v) })),
        h('label', null, h('input', { type: 'checkbox', id: 'st-log', checked: !!style.log, onchange: (e) => setStyle({ log: e.target.checked }) }), ' Log scale'))));

  function setStyle(p) {
    Object.assign(style, p);
    try { localStorage.setItem(styleKey, JSON.stringify(style)); } catch { /* storage off */ }
    draw();
  }
  function addCompare(k) {
    if (!k || compareKeys.includes(k) || baseKeys.includes(k)) return;
    compareKeys.push(k);
    renderChips();
    load();
  }
  function renderChips() {
    clear(compareList);
    for (const k of compareKeys) compareList.append(h('span.chip', null, k,
      h('button.ghost', { type: 'button', 'aria-label': `Stop comparing ${k}`, onclick: () => { compareKeys.splice(compareKeys.indexOf(k), 1); renderChips(); load(); } }, '✕')));
  }

  let plot = null;
  let series = []; // [{label, points, dashed, unit, how}]
  let markers = [];
  let win = null; // [from, until] unix seconds of the last load
  let zoom = null; // [min, max] while zoomed in, kept across refreshes
  function draw({ refresh: again = false } = {}) {
    const labels = series.map((s) => s.label);
    const units = series.map((s) => s.unit);
    const summaries = series.map((s) => s.how);
    const data = series.length ? align(series.map((s) => s.points)) : [[]];
    // A refresh with the same series swaps the data only: no flash.
    if (again && plot && plot.series.length === labels.length + 1 && labels.every((l, i) => plot.series[i + 1].label === l && plot.series[i + 1].unit === units[i] && plot.series[i + 1].summary === summaries[i])) {
      plot.setData(data, false);
    } else {
      if (plot) { plot.destroy(); plot = null; }
      const width = Math.max(280, chartEl.clientWidth || 800);
      const opts = baseOpts({ width, height: 360, labels, units, summaries, style: { ...style, dashes: series.map((s) => (s.dashed ? [6, 4] : undefined)) }, markers: () => markers });
      opts.hooks = { setSelect: [(u) => { if (u.select.width >= 2) zoom = [u.posToVal(u.select.left, 'x'), u.posToVal(u.select.left + u.select.width, 'x')]; }] };
      plot = new uPlot(opts, data, chartEl);
      plot.over.addEventListener('dblclick', (e) => { e.stopPropagation(); zoom = null; draw(); });
    }
    // The chart spans the whole range asked for, not just the data's.
    if (series.length && plot.data[0].length && win) {
      plot.setScale('x', zoom ? { min: zoom[0], max: zoom[1] } : { min: win[0], max: win[1] });
    }
    state.charts = [plot];
  }
  let timer = 0;
  function schedule() {
    clearInterval(timer);
    if (refresh) timer = setInterval(() => { if (!document.hidden) load({ refresh: true }); }, refresh * 1000);
  }
  window.addEventListener('resize', debounce(() => { if (plot) plot.setSize({ width: Math.max(280, chartEl.clientWidth), height: 360 }); }, 150));
  window.addEventListener('canopy-theme', () => draw());

  function graphLinks() {
    clear(links);
    const q = new URLSearchParams({ from: range, until: 'now' });
    // A navigation cannot send the Authorization header: links carry the token.
    if (getToken()) q.set('access_token', getToken());
    links.append(h('span', null, 'Download: ', ['png', 'svg', 'pdf'].map((ext, i) => [i ? ' · ' : '',
      h('a', { href: `/graph/${keyURL(name)}.${ext}?${q}`, download: `${name}.${ext}` }, ext.toUpperCase())])));
  }

  let ctl = null;
  async function load({ refresh: again = false } = {}) {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    const signal = ctl.signal;
    if (!again) { note.textContent = 'Loading…'; note.className = 'hint'; }
    graphLinks();
    const span = rangeSeconds(range);
    const points = Math.min(2000, Math.max(200, chartEl.clientWidth || 800));
    // One window for every key (and the shifted copies), fixed now.
    const nowS = Math.ceil(Date.now() / 1000);
    win = [nowS - span, nowS];
    // A key whose node holds no number (br,ie) has no history of its own:
    // its children's is shown instead (br,ie,*). Keys naming `le` buckets
    // (reqtime,le or reqtime,le,*) read as p50/p95/p99.
    const read = async (k, q) => {
      const le = /^(.+),le(,\*)?$/.exec(k);
      if (le) return trend(le[1], { ...q, percentile: '50,95,99' }, signal);
      const o = { ...q, as, top: isPattern(k) ? top : 0 };
      const r = await trend(k, o, signal);
      if (r.series.length || /[*]$/.test(k)) return r;
      // Its children, and the percentiles of its `le` buckets if it has
      // any (none: no series, not an error).
      const [kids, pct] = await Promise.all([trend(k + ',*', { ...o, top }, signal),
        trend(k, { ...q, percentile: '50,95,99' }, signal).catch(() => ({ series: [] }))]);
      kids.series.push(...pct.series);
      return kids;
    };
    // Each key is read on its own: one that fails or has no data is named
    // in its own line under the chart, and the others are drawn.
    const job = (k, q, shifted) => read(k, q).then((r) => ({ k, r, shifted }), (err) => ({ k, err, shifted }));
    const jobs = [...baseKeys, ...compareKeys].map((k) => job(k, { from: win[0], until: win[1], points }, false));
    if (shift) {
      for (const k of baseKeys) jobs.push(job(k, { from: win[0] - shift, until: win[1] - shift, points }, true));
    }
    try {
      const res = await Promise.all(jobs);
      if (signal.aborted) return;
      series = [];
      markers = [];
      clear(missing);
      const shiftLabel = SHIFTS.find(([s]) => s === shift)?.[1] || '';
      for (const { k, r, err, shifted } of res) {
        if (err) {
          if (err.name === 'AbortError') return;
          missing.append(h('li.msg.error', { 'data-key': k, text: `${k}: ${err.message}` }));
          continue;
        }
        if (!shifted && !r.series.some((s) => s.points.some((p) => p[1] != null))) {
          missing.append(h('li.msg.info', { 'data-key': k, text: `no data for ${k}` }));
        }
        for (const s of r.series) {
          const unit = seriesUnit(s), how = seriesSummary(s);
          series.push(shifted
            ? { label: `${s.key} (${shiftLabel})`, points: s.points.map(([t, v]) => [t + shift * 1000, v]), dashed: true, unit, how }
            : { label: s.key, points: s.points, unit, how });
        }
        if (!shifted) markers.push(...r.markers);
      }
      draw({ refresh: again });
      const n = series.reduce((a, s) => a + s.points.length, 0);
      note.textContent = series.length ? `${series.length} series, ${fmt(n)} point${n === 1 ? '' : 's'}${markers.length ? `, ${markers.length} marker${markers.length > 1 ? 's' : ''}` : ''}. Drag to zoom, double-click to reset.` : 'No history for these keys in this range.';
    } catch (e) {
      if (e.name === 'AbortError') return;
      note.textContent = e.message;
      note.className = 'msg error';
      draw();
    }
    state.ready = true;
  }
  await load();
  state.ready = true;
}
