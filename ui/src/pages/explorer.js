// Trend explorer: the tree on the left (expand on click, search), and on
// the right one master-detail chart per chosen key: drag across the small
// overview chart (or the detail chart) to zoom, Reset zoom to go back.
// One hour by default, the same window in every chart; counters as rates
// (or counts, totals), units on every series, a pattern's top N series
// plus "other", p50/p95/p99 for nodes with `le` buckets, markers on the
// detail charts, and an optional auto-refresh.
import { get, trend, search as searchKeys, keyURL, splitKey, isPattern, seriesUnit, seriesSummary, PRESETS, REFRESH } from '../api.js';
import { h, clear, fmt, message, debounce, rangeSeconds } from '../dom.js';
import { uPlot, baseOpts, align } from '../chart.js';

const DEFAULT_CHARTS = 4;
const SEARCH_LIMIT = 200;
const DEFAULT_RANGE = '-1h';
const DEFAULT_TOP = 10;
const TOPS = [[5, 'top 5'], [10, 'top 10'], [20, 'top 20'], [50, 'top 50'], [0, 'all']];
const AS = [['rate', 'rate /s'], ['count', 'count'], ['total', 'total']];
const PERCENTILES = '50,95,99';

// buildTree nests flat entries: {name, key, value, children: Map}.
export function buildTree(entries) {
  const root = { name: '', key: '', children: new Map() };
  for (const [k, v] of entries) {
    const parts = k.split(',');
    let n = root;
    for (let i = 0; i < parts.length; i++) {
      let c = n.children.get(parts[i]);
      if (!c) {
        c = { name: splitKey(parts[i])[0], key: parts.slice(0, i + 1).join(','), children: new Map() };
        n.children.set(parts[i], c);
      }
      n = c;
    }
    n.value = v;
  }
  return root;
}

// bound reads a bucket's name as a number (+Inf last); NaN for other names.
function bound(name) {
  if (/^\+?inf$/i.test(name)) return Infinity;
  if (/^-inf$/i.test(name)) return -Infinity;
  return /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(name) ? Number(name) : NaN;
}

// byName orders names numerically when every one is a number (le buckets:
// 0.05 before 0.1, +Inf last), else as text with digits compared as numbers.
export function byName(names) {
  const nums = names.map(bound);
  if (names.length && nums.every((v) => !Number.isNaN(v))) return names.map((n, i) => [n, nums[i]]).sort((a, b) => a[1] - b[1]).map((x) => x[0]);
  return [...names].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

// sortSeries orders a chart's series by their last level the same way, so
// le buckets read in order; top N keeps the API's order (largest first).
function sortSeries(series) {
  const last = (k) => splitKey(k).pop();
  const order = byName(series.map((s) => last(s.key)));
  if (!series.length || !series.every((s) => !Number.isNaN(bound(last(s.key))))) return series;
  const pos = new Map(order.map((n, i) => [n, i]));
  return [...series].sort((a, b) => pos.get(last(a.key)) - pos.get(last(b.key)));
}

// pctBase is the key to ask percentiles of, for a chart of key: the node
// holding the `le` buckets (reqtime for reqtime,le,* or, when the tree shows
// a reqtime,le, for reqtime,*), or '' when it has none.
function pctBase(key, hasLe) {
  let m = /^(.+),le(,\*)?$/.exec(key);
  if (m) return m[1];
  m = /^(.+),\*$/.exec(key);
  const base = m ? m[1] : key;
  return hasLe(base) ? base : '';
}

export async function explorer(main, state) {
  document.title = 'Trend explorer · canopy';
  const t0 = performance.now();
  const params = new URLSearchParams(location.search);
  // opts is shared by every chart: one window, one reading of counters,
  // one N, so the panels compare.
  const opts = {
    range: PRESETS.some(([v]) => v === params.get('range')) ? params.get('range') : DEFAULT_RANGE,
    as: AS.some(([v]) => v === params.get('as')) ? params.get('as') : 'rate',
    top: params.has('top') && TOPS.some(([v]) => String(v) === params.get('top')) ? Number(params.get('top')) : DEFAULT_TOP,
    refresh: REFRESH.some(([v]) => String(v) === params.get('refresh')) ? Number(params.get('refresh')) : 0,
    win: null, // [from, until] in unix seconds, set at each load
  };
  const search = h('input', { type: 'search', id: 'tree-search', placeholder: 'Search keys', 'aria-label': 'Search keys' });
  const searchCount = h('p.hint', { id: 'search-count', 'aria-live': 'polite' });
  const treeEl = h('ul.tree', { id: 'tree', role: 'tree', 'aria-label': 'Tree' });
  const resultsEl = h('ul.tree.results', { id: 'tree-results', hidden: true, 'aria-label': 'Search results' });
  const presetBtns = PRESETS.map(([v, l]) => h('button.ghost', {
    type: 'button', 'data-range': v, 'aria-pressed': String(v === opts.range),
    onclick: () => { opts.range = v; for (const b of presetBtns) b.setAttribute('aria-pressed', String(b.dataset.range === v)); reloadAll(); },
  }, l));
  const sel = (id, label, list, value, on) => h('label', null, label + ' ',
    h('select', { id, onchange: (e) => on(e.target.value) }, list.map(([v, l]) => h('option', { value: String(v), selected: String(v) === String(value) }, l))));
  const chartsEl = h('div.charts', { id: 'charts' });
  const emptyEl = h('p.hint', { text: 'Choose a key in the tree to chart its history.' });
  main.append(h('h1.sr', null, 'Trend explorer'),
    h('div.explorer', null,
      h('aside.side', { 'aria-label': 'Tree' }, search, searchCount, treeEl, resultsEl),
      h('section.main', { 'aria-label': 'Charts' },
        h('div.toolbar', null,
          h('span.presets', { id: 'range', role: 'group', 'aria-label': 'Range' }, presetBtns),
          sel('as', 'Counters', AS, opts.as, (v) => { opts.as = v; reloadAll(); }),
          sel('top-n', 'Patterns', TOPS, opts.top, (v) => { opts.top = Number(v); reloadAll(); }),
          sel('refresh', 'Refresh', REFRESH, opts.refresh, (v) => { opts.refresh = Number(v); schedule(); syncURL(); }),
          h('button.ghost', { type: 'button', id: 'clear-charts', onclick: () => { for (const c of [...charts.values()]) c.remove(); syncURL(); } }, 'Remove all')),
        emptyEl, chartsEl)));

  /** @type {Map<string, any>} */
  const charts = new Map();
  state.charts = [];
  const syncURL = () => {
    const q = new URLSearchParams();
    for (const k of charts.keys()) q.append('key', k);
    if (opts.range !== DEFAULT_RANGE) q.set('range', opts.range);
    if (opts.as !== 'rate') q.set('as', opts.as);
    if (opts.top !== DEFAULT_TOP) q.set('top', String(opts.top));
    if (opts.refresh) q.set('refresh', String(opts.refresh));
    history.replaceState(null, '', location.pathname + (q.toString() ? '?' + q : ''));
    emptyEl.hidden = charts.size > 0;
    state.charts = [...charts.values()];
  };

  // newWindow fixes the window every chart reads until the next load.
  const newWindow = () => {
    const now = Date.now() / 1000;
    opts.win = [Math.floor(now - rangeSeconds(opts.range)), Math.ceil(now)];
  };

  function toggleChart(key, { defer = false } = {}) {
    if (charts.has(key)) { charts.get(key).remove(); syncURL(); return; }
    const c = chartCard(key, opts, chartWidth, hasLe, () => { charts.delete(key); syncURL(); });
    charts.set(key, c);
    chartsEl.append(c.el);
    if (!defer) {
      syncURL();
      if (!opts.win) newWindow();
      c.load();
    }
    return c;
  }

  // loadAll fetches every chart's history, then draws them in one task, so
  // the page lays out once instead of once per chart.
  let loading = null;
  async function loadAll(cards, { refresh = false } = {}) {
    newWindow();
    const res = await Promise.allSettled(cards.map((c) => c.fetchData()));
    res.forEach((r, i) => (r.status === 'fulfilled' ? cards[i].show(r.value, { refresh }) : cards[i].fail(r.reason)));
  }
  function reloadAll() {
    syncURL();
    loading = loadAll([...charts.values()]);
    return loading;
  }

  // Auto-refresh reads every chart again over a window moved to now; a
  // chart the user zoomed keeps its zoom.
  let timer = 0;
  function schedule() {
    clearInterval(timer);
    timer = 0;
    if (!opts.refresh) return;
    let busy = false;
    timer = setInterval(async () => {
      if (busy || !charts.size || document.hidden) return;
      busy = true;
      try { await loadAll([...charts.values()], { refresh: true }); } finally { busy = false; }
      state.refreshes = (state.refreshes || 0) + 1;
    }, opts.refresh * 1000);
  }

  // Every chart is as wide as the charts column. Measuring it forces a
  // layout, so it is measured once and again only on resize.
  let width = 0;
  const chartWidth = () => width || (width = Math.max(260, (chartsEl.clientWidth || 700) - 26));
  window.addEventListener('resize', debounce(() => { width = 0; for (const c of charts.values()) c.resize(); }, 150));
  window.addEventListener('canopy-theme', () => { for (const c of charts.values()) c.redraw(); });

  // The tree.
  let root = null;
  // hasLe tells whether the tree shows key with `le` buckets under it.
  function hasLe(key) {
    let n = root;
    if (!n) return false;
    for (const p of key.split(',')) { n = n.children.get(p); if (!n) return false; }
    return n.children.has('le');
  }
  function nodeItem(n) {
    const hasKids = n.children.size > 0;
    const li = h('li', { role: 'treeitem', 'aria-expanded': hasKids ? 'false' : null });
    const kids = h('ul', { role: 'group', hidden: true });
    const caret = hasKids ? h('button.caret', {
      type: 'button', 'aria-label': `Expand ${n.name}`,
      onclick: () => {
        const open = li.getAttribute('aria-expanded') !== 'true';
        li.setAttribute('aria-expanded', String(open));
        caret.textContent = open ? '▾' : '▸';
        caret.setAttribute('aria-label', `${open ? 'Collapse' : 'Expand'} ${n.name}`);
        if (open && !kids.firstChild) for (const c of sorted(n)) kids.append(nodeItem(c));
        kids.hidden = !open;
      },
    }, '▸') : h('span.caret');
    const chartKey = typeof n.value === 'number' ? n.key : n.key + ',*';
    const label = h('button.node', {
      type: 'button', 'data-key': n.key, title: `Chart ${chartKey}`,
      onclick: () => { toggleChart(chartKey); },
    }, n.name, n.value != null ? h('span.v', null, fmt(n.value)) : null);
    li.append(h('div.row', null, caret, label), kids);
    return li;
  }
  const sorted = (n) => {
    const byN = new Map([...n.children.values()].map((c) => [c.name, c]));
    return byName([...byN.keys()]).map((name) => byN.get(name));
  };

  // Search asks the daemon (it knows every key, the page only the tree it
  // read) and says how many of how many it shows.
  let searchCtl = null;
  search.addEventListener('input', debounce(async () => {
    const q = search.value.trim();
    if (searchCtl) searchCtl.abort();
    clear(resultsEl);
    searchCount.textContent = '';
    resultsEl.hidden = !q;
    treeEl.hidden = !!q;
    if (!q) return;
    searchCtl = new AbortController();
    let r;
    try { r = await searchKeys(q, SEARCH_LIMIT, searchCtl.signal); } catch (e) {
      if (e.name !== 'AbortError') resultsEl.append(h('li', null, message(e.message, 'error')));
      return;
    }
    for (const { key, value } of r.keys) {
      const ck = typeof value === 'number' ? key : key + ',*';
      resultsEl.append(h('li', null, h('button.node', { type: 'button', 'data-key': key, title: `Chart ${ck}`, onclick: () => toggleChart(ck) }, key,
        value != null ? h('span.v', null, fmt(value)) : null)));
    }
    searchCount.textContent = r.total ? `showing ${fmt(r.shown)} of ${fmt(r.total)}` : '';
    if (!r.total) resultsEl.append(h('li.hint', null, 'No key matches.'));
  }, 120));

  // Charts named in the URL load at once, next to the tree.
  let wanted = params.getAll('key');
  const treeLoad = get('*').then((r) => r.entries, (e) => { treeEl.append(h('li', null, message(e.message, 'error'))); return []; });
  chartWidth(); // measured while the column is still empty: a cheap layout
  const first = loadAll(wanted.map((k) => toggleChart(k, { defer: true })).filter(Boolean));
  syncURL();
  const entries = await treeLoad;
  state.timings.tree = performance.now();
  root = buildTree(entries);
  for (const c of sorted(root)) treeEl.append(nodeItem(c));
  if (!entries.length) treeEl.append(h('li.hint', null, 'The tree is empty.'));

  if (!wanted.length) {
    // Default: the biggest shallowest numbers, a useful first look.
    const numbered = entries.filter(([, v]) => typeof v === 'number');
    const keys = new Set(numbered.map(([k]) => k));
    const shallow = numbered.filter(([k]) => {
      const p = k.split(',');
      for (let i = 1; i < p.length; i++) if (keys.has(p.slice(0, i).join(','))) return false;
      return true;
    });
    wanted = shallow.sort((a, b) => b[1] - a[1]).slice(0, DEFAULT_CHARTS).map(([k]) => k);
    const cards = wanted.map((k) => toggleChart(k, { defer: true })).filter(Boolean);
    syncURL();
    await loadAll(cards);
  }
  await first;
  // Charts from the URL loaded before the tree: those the tree shows to
  // have `le` buckets are read again with their percentiles.
  const late = [...charts.values()].filter((c) => !c.pct && pctBase(c.key, hasLe));
  if (late.length) await loadAll(late);
  schedule();
  // Interactive: the charts are painted (one frame later) and the main
  // thread is free for input (a task after that frame).
  state.timings.drawn = performance.now();
  await new Promise((res) => requestAnimationFrame(() => { state.timings.frame = performance.now(); setTimeout(res, 0); }));
  state.timings.interactive = performance.now();
  state.timings.explorerStart = t0;
  state.ready = true;
}

// chartCard is one master-detail pair for key, reading opts (shared).
function chartCard(key, opts, widthOf, hasLe, onRemove) {
  const detailEl = h('div.detail');
  const overviewEl = h('div.overview', { title: 'Drag to choose the range shown above' });
  const note = h('p.hint');
  const reset = h('button.ghost.zoom-reset', { type: 'button', hidden: true, onclick: () => resetZoom() }, 'Reset zoom');
  const el = h('article.card.chart-card', { 'data-key': key },
    h('header', null,
      h('h2', null, key),
      reset,
      h('a', { href: '/realtime/' + keyURL(key), title: 'Realtime' }, 'realtime'),
      h('a', { href: '/trend/view/' + keyURL(key), title: 'One chart with compare and styles' }, 'open'),
      h('button.ghost', { type: 'button', 'aria-label': `Remove chart ${key}`, onclick: () => c.remove() }, '✕')),
    detailEl, overviewEl, note);
  let detail = null, overview = null, markers = [], ctl = null, labels = [], units = [], summaries = [], span = null;
  let zoom = null; // [min, max] while zoomed in, kept across refreshes

  let lastData = [[]];
  function draw(data, { refresh = false } = {}) {
    lastData = data;
    // A refresh with the same series only swaps the data: no new canvas,
    // no flash, the zoom stays.
    const same = refresh && detail && detail.series.length === labels.length + 1 &&
      labels.every((l, i) => detail.series[i + 1].label === l && detail.series[i + 1].unit === units[i] && detail.series[i + 1].summary === summaries[i]);
    if (same) {
      detail.setData(data, false);
      overview.setData(data, false);
    } else {
      if (detail) detail.destroy();
      if (overview) overview.destroy();
      const width = widthOf();
      const d = baseOpts({ width, height: 180, labels, units, summaries, markers: () => markers });
      d.hooks = { setSelect: [(u) => { if (u.select.width >= 2) setZoom(u.posToVal(u.select.left, 'x'), u.posToVal(u.select.left + u.select.width, 'x')); }] };
      // Double-click goes back to the whole window, not uPlot's data range.
      d.cursor.bind = { dblclick: () => null };
      detail = new uPlot(d, data, detailEl);
      detail.over.addEventListener('dblclick', (e) => { e.stopPropagation(); resetZoom(); });
      const o = baseOpts({ width, height: 64, labels, units, small: true });
      o.hooks = { setSelect: [(u) => select(u)] };
      o.legend = { show: false };
      overview = new uPlot(o, data, overviewEl);
    }
    // Both charts span the whole window asked for, not just the data's, so
    // an hour shows as an hour however little of it has history.
    if (span && data[0].length) {
      overview.setScale('x', { min: span[0], max: span[1] });
      detail.setScale('x', zoom ? { min: zoom[0], max: zoom[1] } : { min: span[0], max: span[1] });
    }
    c.detail = detail;
    c.overview = overview;
  }

  function setZoom(min, max) {
    zoom = [min, max];
    reset.hidden = false;
  }
  function resetZoom() {
    zoom = null;
    reset.hidden = true;
    if (!detail || !span) return;
    overview.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    detail.setData(lastData, false);
    detail.setScale('x', { min: span[0], max: span[1] });
  }

  // select shows the overview's selected range in the detail chart, then
  // fetches that range again at full resolution.
  let refineT = 0;
  function select(u) {
    const s = u.select;
    if (s.width < 2) { resetZoom(); return; }
    const min = u.posToVal(s.left, 'x');
    const max = u.posToVal(s.left + s.width, 'x');
    setZoom(min, max);
    detail.setScale('x', { min, max });
    clearTimeout(refineT);
    refineT = setTimeout(() => refine(min, max), 150);
  }
  async function refine(min, max) {
    try {
      const r = await read({ from: Math.floor(min), until: Math.ceil(max), points: widthOf() });
      if (!zoom || !r.series.length || r.series.length !== labels.length) return;
      detail.setData(align(r.series.map((s) => s.points)), false);
      detail.setScale('x', { min, max });
      // data-refined counts the zooms drawn at full resolution (tests wait on it).
      el.dataset.refined = String(Number(el.dataset.refined || 0) + 1);
    } catch { /* keep the coarse data */ }
  }

  // read asks for the series of key (top N of a pattern, counters as
  // chosen) and, for a node with `le` buckets, its percentiles; one
  // request failing leaves the other's lines.
  async function read(q, signal) {
    const base = pctBase(key, hasLe);
    c.pct = !!base;
    const onlyPct = base && /,le(,\*)?$/.test(key);
    const jobs = [];
    if (!onlyPct) jobs.push(trend(key, { ...q, as: opts.as, top: isPattern(key) ? opts.top : 0 }, signal));
    if (base) jobs.push(trend(base, { ...q, percentile: PERCENTILES }, signal));
    const res = await Promise.allSettled(jobs);
    const ok = res.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    if (!ok.length) throw res[0].reason;
    const [first, ...rest] = ok;
    const series = (opts.top && isPattern(key)) ? first.series : sortSeries(first.series);
    for (const r of rest) series.push(...r.series);
    return { series, markers: first.markers };
  }

  // fetchData reads the history; show draws it. They are apart so the
  // first load can fetch every chart, then draw them all in one task.
  async function fetchData() {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    if (!detail) { note.textContent = 'Loading…'; note.className = 'hint'; }
    const win = opts.win;
    const r = await read({ from: win[0], until: win[1], points: Math.min(2000, widthOf()) }, ctl.signal);
    r.win = win;
    c.fetched = performance.now();
    return r;
  }
  function show(r, { refresh = false } = {}) {
    span = r.win;
    // A new range (or reading) starts unzoomed; a refresh keeps the zoom.
    if (!refresh) { zoom = null; reset.hidden = true; }
    markers = r.markers;
    note.className = 'hint';
    if (!r.series.some((s) => s.points.some((p) => p[1] != null))) {
      labels = []; units = []; summaries = [];
      draw([[]]);
      note.textContent = `no data for ${key} in this range`;
      note.className = 'msg info';
      el.dataset.state = 'empty';
      return;
    }
    labels = r.series.map((s) => s.key);
    units = r.series.map(seriesUnit);
    summaries = r.series.map(seriesSummary);
    draw(align(r.series.map((s) => s.points)), { refresh });
    el.dataset.state = 'drawn';
    c.drawn = performance.now();
    const n = r.series.reduce((a, s) => a + s.points.length, 0);
    note.textContent = `${r.series.length} series, ${fmt(n)} point${n === 1 ? '' : 's'}${markers.length ? `, ${markers.length} marker${markers.length > 1 ? 's' : ''}` : ''}. Drag to zoom.`;
  }
  function fail(e) {
    if (e.name === 'AbortError') return;
    note.textContent = e.message;
    note.className = 'msg error';
    el.dataset.state = 'error';
  }
  async function load() {
    try { show(await fetchData()); } catch (e) { fail(e); }
  }
  const c = {
    key, el, detail: null, overview: null, pct: false,
    load, fetchData, show, fail,
    redraw() { draw(lastData); },
    resize() {
      const width = widthOf();
      if (detail) detail.setSize({ width, height: 180 });
      if (overview) overview.setSize({ width, height: 64 });
    },
    remove() { if (detail) detail.destroy(); if (overview) overview.destroy(); if (ctl) ctl.abort(); el.remove(); onRemove(); },
  };
  return c;
}
