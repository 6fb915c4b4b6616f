// Trend explorer: the tree on the left (expand on click, search), and on
// the right one master-detail chart per chosen key: drag across the small
// overview chart to choose the range the detail chart shows. One year by
// default; markers are drawn on the detail charts.
import { get, trend, keyURL, splitKey } from '../api.js';
import { h, clear, fmt, message, debounce, RANGES, rangeSeconds } from '../dom.js';
import { uPlot, baseOpts, align } from '../chart.js';

const DEFAULT_CHARTS = 4;
const SEARCH_LIMIT = 200;

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

export async function explorer(main, state) {
  document.title = 'Trend explorer · canopy';
  const t0 = performance.now();
  const params = new URLSearchParams(location.search);
  let range = params.get('range') || '-1y';
  const search = h('input', { type: 'search', id: 'tree-search', placeholder: 'Search keys', 'aria-label': 'Search keys' });
  const treeEl = h('ul.tree', { id: 'tree', role: 'tree', 'aria-label': 'Tree' });
  const resultsEl = h('ul.tree.results', { id: 'tree-results', hidden: true, 'aria-label': 'Search results' });
  const rangeSel = h('select', { id: 'range', 'aria-label': 'Range' },
    RANGES.map(([v, l]) => h('option', { value: v, selected: v === range }, l)));
  const chartsEl = h('div.charts', { id: 'charts' });
  const emptyEl = h('p.hint', { text: 'Choose a key in the tree to chart its history.' });
  main.append(h('h1.sr', null, 'Trend explorer'),
    h('div.explorer', null,
      h('aside.side', { 'aria-label': 'Tree' }, search, treeEl, resultsEl),
      h('section.main', { 'aria-label': 'Charts' },
        h('div.toolbar', null, h('label', null, 'Range ', rangeSel),
          h('button.ghost', { type: 'button', id: 'clear-charts', onclick: () => { for (const c of [...charts.values()]) c.remove(); syncURL(); } }, 'Remove all')),
        emptyEl, chartsEl)));

  /** @type {Map<string, any>} */
  const charts = new Map();
  state.charts = [];
  const syncURL = () => {
    const q = new URLSearchParams();
    for (const k of charts.keys()) q.append('key', k);
    if (range !== '-1y') q.set('range', range);
    history.replaceState(null, '', location.pathname + (q.toString() ? '?' + q : ''));
    emptyEl.hidden = charts.size > 0;
    state.charts = [...charts.values()];
  };

  function toggleChart(key, { defer = false } = {}) {
    if (charts.has(key)) { charts.get(key).remove(); syncURL(); return; }
    const c = chartCard(key, range, chartWidth, () => { charts.delete(key); syncURL(); });
    charts.set(key, c);
    chartsEl.append(c.el);
    if (!defer) { syncURL(); c.load(range); }
    return c;
  }

  // loadAll fetches every chart's history, then draws them in one task, so
  // the page lays out once instead of once per chart.
  async function loadAll(cards) {
    const res = await Promise.allSettled(cards.map((c) => c.fetchData(range)));
    res.forEach((r, i) => (r.status === 'fulfilled' ? cards[i].show(r.value) : cards[i].fail(r.reason)));
  }

  // Every chart is as wide as the charts column. Measuring it forces a
  // layout, so it is measured once and again only on resize.
  let width = 0;
  const chartWidth = () => width || (width = Math.max(260, (chartsEl.clientWidth || 700) - 26));
  window.addEventListener('resize', debounce(() => { width = 0; for (const c of charts.values()) c.resize(); }, 150));
  window.addEventListener('canopy-theme', () => { for (const c of charts.values()) c.redraw(); });

  rangeSel.addEventListener('change', () => {
    range = rangeSel.value;
    for (const c of charts.values()) c.load(range);
    syncURL();
  });

  // The tree.
  let root = null;
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
  const sorted = (n) => [...n.children.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));

  search.addEventListener('input', debounce(() => {
    const q = search.value.trim().toLowerCase();
    clear(resultsEl);
    resultsEl.hidden = !q;
    treeEl.hidden = !!q;
    if (!q || !root) return;
    let found = 0;
    const walk = (n) => {
      for (const c of n.children.values()) {
        if (found >= SEARCH_LIMIT) return;
        if (c.key.toLowerCase().includes(q)) {
          found++;
          const ck = typeof c.value === 'number' ? c.key : c.key + ',*';
          resultsEl.append(h('li', null, h('button.node', { type: 'button', 'data-key': c.key, onclick: () => toggleChart(ck) }, c.key,
            c.value != null ? h('span.v', null, fmt(c.value)) : null)));
        }
        walk(c);
      }
    };
    walk(root);
    if (!found) resultsEl.append(h('li.hint', null, 'No key matches.'));
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
  // Interactive: the charts are painted (one frame later) and the main
  // thread is free for input (a task after that frame).
  state.timings.drawn = performance.now();
  await new Promise((res) => requestAnimationFrame(() => { state.timings.frame = performance.now(); setTimeout(res, 0); }));
  state.timings.interactive = performance.now();
  state.timings.explorerStart = t0;
  state.ready = true;
}

// chartCard is one master-detail pair for key.
function chartCard(key, range, widthOf, onRemove) {
  const detailEl = h('div.detail');
  const overviewEl = h('div.overview', { title: 'Drag to choose the range shown above' });
  const note = h('p.hint');
  const el = h('article.card.chart-card', { 'data-key': key },
    h('header', null,
      h('h2', null, key),
      h('a', { href: '/realtime/' + keyURL(key), title: 'Realtime' }, 'realtime'),
      h('a', { href: '/trend/view/' + keyURL(key), title: 'One chart with compare and styles' }, 'open'),
      h('button.ghost', { type: 'button', 'aria-label': `Remove chart ${key}`, onclick: () => c.remove() }, '✕')),
    detailEl, overviewEl, note);
  let detail = null, overview = null, markers = [], ctl = null, labels = [], span = null;

  let lastData = [[]];
  function draw(data) {
    lastData = data;
    if (detail) detail.destroy();
    if (overview) overview.destroy();
    const width = widthOf();
    detail = new uPlot(baseOpts({ width, height: 180, labels, markers: () => markers }), data, detailEl);
    const o = baseOpts({ width, height: 64, labels, small: true });
    o.hooks = { setSelect: [(u) => select(u)] };
    o.legend = { show: false };
    overview = new uPlot(o, data, overviewEl);
    // Both charts span the whole range asked for, not just the data's, so
    // a year shows as a year however little of it has history.
    if (span && data[0].length) {
      overview.setScale('x', { min: span[0], max: span[1] });
      detail.setScale('x', { min: span[0], max: span[1] });
    }
    c.detail = detail;
    c.overview = overview;
  }

  // select shows the overview's selected range in the detail chart, then
  // fetches that range again at full resolution.
  let refineT = 0;
  function select(u) {
    const s = u.select;
    if (s.width < 2) { detail.setScale('x', { min: u.scales.x.min, max: u.scales.x.max }); return; }
    const min = u.posToVal(s.left, 'x');
    const max = u.posToVal(s.left + s.width, 'x');
    detail.setScale('x', { min, max });
    clearTimeout(refineT);
    refineT = setTimeout(() => refine(min, max), 150);
  }
  async function refine(min, max) {
    try {
      const r = await trend(key, { from: Math.floor(min), until: Math.ceil(max), points: widthOf() });
      if (!r.series.length) return;
      detail.setData(align(r.series.map((s) => s.points)), false);
      detail.setScale('x', { min, max });
    } catch { /* keep the coarse data */ }
  }

  // fetchData reads the history; show draws it. They are apart so the
  // first load can fetch every chart, then draw them all in one task.
  async function fetchData(rng) {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    note.textContent = 'Loading…';
    note.className = 'hint';
    const now = Date.now() / 1000;
    span = [now - rangeSeconds(rng), now];
    const r = await trend(key, { from: rng, until: 'now', points: Math.min(2000, widthOf()) }, ctl.signal);
    c.fetched = performance.now();
    return r;
  }
  function show(r) {
    markers = r.markers;
    if (!r.series.length) { note.textContent = `no data for ${key} in this range`; labels = []; draw([[]]); return; }
    labels = r.series.map((s) => s.key);
    draw(align(r.series.map((s) => s.points)));
    c.drawn = performance.now();
    const n = r.series.reduce((a, s) => a + s.points.length, 0);
    note.textContent = `${r.series.length} series, ${fmt(n)} point${n === 1 ? '' : 's'}${markers.length ? `, ${markers.length} marker${markers.length > 1 ? 's' : ''}` : ''}. Drag on the small chart to zoom.`;
  }
  function fail(e) {
    if (e.name === 'AbortError') return;
    note.textContent = e.message;
    note.className = 'msg error';
  }
  async function load(rng) {
    try { show(await fetchData(rng)); } catch (e) { fail(e); }
  }
  const c = {
    key, el, detail: null, overview: null,
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
