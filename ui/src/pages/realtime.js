// Realtime: a subtree (or a saved view's keys) as a live, sortable table
// whose values change in place, and a live chart of the last minutes.
// Memory stays flat however long the page runs: table rows are reused, the
// chart keeps fixed-size rings sampled once a second, and updates are
// applied at most once per animation frame.
import { get, follow, listViews } from '../api.js';
import { h, fmt, message, debounce } from '../dom.js';
import { uPlot, baseOpts } from '../chart.js';

const MAX_FOLLOW = 5; // browsers allow ~6 connections per host
const DEFAULT_CHARTED = 5;

export async function realtime(main, state, { key, view }) {
  let keys = [key];
  let title = key;
  let chartType = 'line';
  if (view != null) {
    const v = (await listViews()).find((x) => x.name === view);
    if (!v) {
      main.append(h('h1', null, `View ${view}`), message(`There is no saved view named “${view}”.`, 'error'),
        h('p', null, h('a', { href: '/setting/view' }, 'Create it in Views')));
      state.ready = true;
      return;
    }
    keys = v.keys && v.keys.length ? v.keys : ['*'];
    title = v.name;
    chartType = v.chart || 'line';
    document.title = `${v.name} · realtime · canopy`;
  } else document.title = `${key} · realtime · canopy`;

  const statusEl = h('span.badge', { id: 'rt-status', text: 'connecting' });
  const versionEl = h('span', { id: 'rt-version', text: '–' });
  const countEl = h('span', { id: 'rt-updates', text: '0' });
  const filter = h('input', { type: 'search', id: 'rt-filter', placeholder: 'Filter keys', 'aria-label': 'Filter keys' });
  const windowSel = h('select', { id: 'rt-window', 'aria-label': 'Chart window' },
    [[60, '1 minute'], [300, '5 minutes'], [900, '15 minutes']].map(([s, l]) => h('option', { value: String(s), selected: s === 300 }, l)));
  const chartBox = h('div.chart', { id: 'rt-chart', role: 'img', 'aria-label': 'Live chart of the selected keys' });
  const tbody = h('tbody');
  const sortState = { col: 'key', dir: 1 };
  const thBtn = (col, label) => h('button.sort', { type: 'button', 'data-col': col, onclick: () => sortBy(col) }, label);
  const table = h('table.data.live', { id: 'rt-table' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, h('span.sr', null, 'Chart')),
      h('th', { scope: 'col', 'aria-sort': 'ascending' }, thBtn('key', 'Key')),
      h('th.num', { scope: 'col' }, thBtn('value', 'Value')),
      h('th.num', { scope: 'col' }, thBtn('delta', 'Change')),
      h('th.num.time', { scope: 'col' }, thBtn('time', 'Updated')))),
    tbody);

  main.append(
    h('h1', null, view != null ? `View: ${title}` : `Realtime: ${title}`),
    h('p.meta', null, statusEl, ' version ', versionEl, ' · updates ', countEl,
      view != null ? h('span', null, ' · keys ', keys.join('  '), ' · ', h('a', { href: '/trend/view/' + encodeURIComponent(view) }, 'trend')) :
        h('span', null, ' · ', h('a', { href: '/trend/view/?key=' + encodeURIComponent(key) }, 'trend'))),
    h('section.card', null, h('div.toolbar', null, h('label', null, 'Window ', windowSel)), chartBox),
    h('section.card', null, h('div.toolbar', null, filter), h('div.scroll', null, table)));

  /** @type {Map<string, any>} */
  const rows = new Map();
  let updates = 0;
  let needSort = false;

  function makeRow(k) {
    const cb = h('input', { type: 'checkbox', 'aria-label': `Chart ${k}`, onchange: () => { r.charted = cb.checked; rebuildChart(); } });
    const tdVal = h('td.num.val');
    const tdDelta = h('td.num.delta');
    const tdTime = h('td.num.time');
    const tr = h('tr', { 'data-key': k }, h('td', null, cb), h('td.key', null, k), tdVal, tdDelta, tdTime);
    const r = { key: k, value: undefined, delta: 0, time: 0, tr, cb, tdVal, tdDelta, tdTime, charted: false, flash: 0 };
    rows.set(k, r);
    tbody.append(tr);
    applyFilterRow(r);
    needSort = true;
    return r;
  }

  function setValue(r, v, now) {
    if (typeof v === 'number' && typeof r.value === 'number') r.delta = v - r.value;
    r.value = v;
    r.time = now;
    r.tdVal.textContent = fmt(v);
    r.tdDelta.textContent = r.delta ? (r.delta > 0 ? '+' : '') + fmt(r.delta) : '';
    r.tdTime.textContent = new Date(now).toLocaleTimeString();
    if (!r.flash) r.tr.classList.add('chg');
    r.flash = now;
  }

  // Changes are queued and applied once per frame: at 20 updates/s the
  // page does one DOM pass per frame, not one per message.
  const pending = new Map();
  let frame = 0;
  function queue(entries) {
    for (const [k, v] of entries) pending.set(k, v);
    if (!frame) frame = requestAnimationFrame(flush);
  }
  function flush() {
    frame = 0;
    const now = Date.now();
    for (const [k, v] of pending) setValue(rows.get(k) || makeRow(k), v, now);
    pending.clear();
    if (needSort || sortState.col !== 'key') sortSoon();
  }
  setInterval(() => {
    const now = Date.now();
    for (const r of rows.values()) if (r.flash && now - r.flash > 700) { r.flash = 0; r.tr.classList.remove('chg'); }
  }, 250);

  function cmp(a, b) {
    const c = sortState.col;
    let x, y;
    if (c === 'key') { x = a.key; y = b.key; return x < y ? -sortState.dir : x > y ? sortState.dir : 0; }
    x = c === 'value' ? a.value : c === 'delta' ? a.delta : a.time;
    y = c === 'value' ? b.value : c === 'delta' ? b.delta : b.time;
    if (typeof x !== 'number') x = -Infinity;
    if (typeof y !== 'number') y = -Infinity;
    return (x - y) * sortState.dir || (a.key < b.key ? -1 : 1);
  }
  function sortNow() {
    needSort = false;
    const list = [...rows.values()].sort(cmp);
    let prev = null;
    for (const r of list) {
      // Move only rows that are out of place, so focus and selection stay put.
      const want = prev ? prev.tr.nextSibling : tbody.firstChild;
      if (want !== r.tr) tbody.insertBefore(r.tr, want);
      prev = r;
    }
  }
  let sortTimer = 0;
  function sortSoon() {
    if (!sortTimer) sortTimer = setTimeout(() => { sortTimer = 0; sortNow(); }, 1000);
  }
  function sortBy(col) {
    sortState.dir = sortState.col === col ? -sortState.dir : (col === 'key' ? 1 : -1);
    sortState.col = col;
    for (const th of table.querySelectorAll('th')) th.removeAttribute('aria-sort');
    const btn = table.querySelector(`button[data-col="${col}"]`);
    btn.parentElement.setAttribute('aria-sort', sortState.dir > 0 ? 'ascending' : 'descending');
    sortNow();
  }

  function applyFilterRow(r) {
    const q = filter.value.trim().toLowerCase();
    r.tr.hidden = q !== '' && !r.key.toLowerCase().includes(q);
  }
  filter.addEventListener('input', debounce(() => { for (const r of rows.values()) applyFilterRow(r); }, 100));

  // The live chart: one sample per second of each charted key, in rings.
  let win = Number(windowSel.value);
  let xs = [];
  let ys = new Map(); // key -> array aligned with xs
  let plot = null;
  function rebuildChart() {
    const charted = [...rows.values()].filter((r) => r.charted).map((r) => r.key);
    const old = ys;
    ys = new Map();
    for (const k of charted) ys.set(k, old.get(k) || new Array(xs.length).fill(null));
    if (plot) { plot.destroy(); plot = null; }
    const width = Math.max(280, chartBox.clientWidth || 600);
    const opts = baseOpts({ width, height: 260, labels: charted, style: { type: chartType === 'bar' ? 'line' : chartType } });
    // The x axis is always the last `win` seconds, however few samples.
    opts.scales.x.auto = false;
    opts.scales.y.auto = false;
    plot = new uPlot(opts, [xs, ...charted.map((k) => ys.get(k))], chartBox);
    shownX = shownY = '';
    rescale();
    state.charts = [plot];
  }
  function sample() {
    const t = Math.floor(Date.now() / 1000);
    xs.push(t);
    for (const [k, arr] of ys) {
      const r = rows.get(k);
      arr.push(r && typeof r.value === 'number' ? r.value : null);
    }
    while (xs.length > win) { xs.shift(); for (const arr of ys.values()) arr.shift(); }
    if (plot) {
      plot.setData([xs, ...ys.values()], false);
      rescale();
    }
  }
  // rescale moves the axes only when they must: x in steps of a tenth of
  // the window, y when the data leaves its rounded range. Recomputing the
  // axes every second keeps uPlot allocating (measured: the page's heap
  // grew ~1 KB/s with a per-second rescale, flat without).
  let shownX = '', shownY = '';
  function rescale() {
    const step = Math.max(5, Math.round(win / 10));
    const now = xs.length ? xs[xs.length - 1] : Math.floor(Date.now() / 1000);
    const end = Math.ceil((now + 1) / step) * step;
    const kx = `${end}/${win}`;
    if (kx !== shownX) { shownX = kx; plot.setScale('x', { min: end - win, max: end }); }
    let lo = Infinity, hi = -Infinity;
    for (const arr of ys.values()) for (const v of arr) if (v != null) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (lo > hi) { lo = 0; hi = 1; }
    // y grows at once when the data leaves it, and shrinks only when the
    // data uses less than half of it, so it does not twitch with each value.
    const sc = plot.scales.y;
    const fits = shownY && lo >= sc.min && hi <= sc.max && (hi - lo) >= (sc.max - sc.min) / 2;
    if (!fits) {
      const [ymin, ymax] = uPlot.rangeNum(lo, hi, 0.1, true);
      const ky = `${ymin}/${ymax}`;
      if (ky !== shownY) { shownY = ky; plot.setScale('y', { min: ymin, max: ymax }); }
    }
  }
  windowSel.addEventListener('change', () => { win = Number(windowSel.value); sample(); });
  window.addEventListener('resize', debounce(() => { if (plot) plot.setSize({ width: Math.max(280, chartBox.clientWidth), height: 260 }); }, 150));
  window.addEventListener('canopy-theme', rebuildChart);

  // Initial load, then follow every key.
  const results = await Promise.all(keys.map((k) => get(k).catch((e) => e)));
  const now = Date.now();
  let failed = 0;
  results.forEach((res, i) => {
    if (res instanceof Error) { failed++; main.append(message(`${keys[i]}: ${res.message}`, 'error')); return; }
    for (const [k, v] of res.entries) setValue(rows.get(k) || makeRow(k), v, now);
    if (res.version != null) versionEl.textContent = res.version;
  });
  for (const r of rows.values()) { r.tr.classList.remove('chg'); r.flash = 0; r.tdDelta.textContent = ''; }
  sortNow();
  if (!rows.size && !failed) tbody.append(h('tr.empty', null, h('td', { colspan: 5 }, 'Nothing under this key yet; rows appear as data arrives.')));
  const top = [...rows.values()].filter((r) => typeof r.value === 'number').sort((a, b) => b.value - a.value).slice(0, DEFAULT_CHARTED);
  for (const r of top) { r.charted = true; r.cb.checked = true; }
  rebuildChart();
  sample();
  setInterval(sample, 1000);

  const live = new Set();
  keys.forEach((k, i) => {
    const res = results[i];
    if (res instanceof Error) return;
    const since = res.version ?? 0;
    follow(k, since, (entries, version) => {
      updates++;
      countEl.textContent = String(updates);
      if (version != null) versionEl.textContent = version;
      const empty = tbody.querySelector('tr.empty');
      if (empty) empty.remove();
      queue(entries);
    }, (s) => {
      if (s === 'live') live.add(k); else live.delete(k);
      statusEl.textContent = live.size ? 'live' : s;
      statusEl.className = 'badge ' + (live.size ? 'ok' : 'warn');
    }, { poll: i >= MAX_FOLLOW });
  });
  state.rows = rows;
  state.ready = true;
}
