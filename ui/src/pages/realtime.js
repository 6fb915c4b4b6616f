// Realtime: a subtree (or a saved view's keys) as a live, sortable table
// whose values change in place, and a live chart of the last minutes.
// Memory stays flat however long the page runs: table rows are reused, the
// chart keeps fixed-size rings sampled once a tick, and updates are
// applied at most once per animation frame.
import { get, follow, listViews, request, fmtUnit } from '../api.js';
import { metaOf, kindFor, declaredUnit } from '../kinds.js';
import { h, fmt, fmtClock, axisTimes, message, debounce } from '../dom.js';
import { uPlot, baseOpts } from '../chart.js';

const MAX_FOLLOW = 5; // browsers allow ~6 connections per host
const DEFAULT_CHARTED = 5;
const DEFAULT_TICK = 10; // s, canopyd's -trend.interval default

// tickSeconds asks the daemon for its tick (the trend interval).
async function tickSeconds() {
  try {
    const st = await (await request('/status', { cache: 'no-store' })).json();
    const s = Number(st?.trend?.interval_seconds);
    if (s >= 0.1) return s;
  } catch { /* an older daemon: its default */ }
  return DEFAULT_TICK;
}

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
  const asSel = h('select', { id: 'rt-as', 'aria-label': 'Counters as' },
    [['rate', 'per second'], ['count', 'per tick'], ['total', 'running total']].map(([v, l]) => h('option', { value: v, selected: v === 'rate' }, l)));
  const tickEl = h('span', { id: 'rt-tick', text: '' });
  const backlogEl = h('p.msg', { id: 'rt-backlog', hidden: true, role: 'status', text: 'Catching up on a backlog: old lines are not drawn as traffic now (the trend view shows them at their own times).' });
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
    h('section.card', null, h('div.toolbar', null, h('label', null, 'Window ', windowSel), h('label', null, 'Counters ', asSel), h('span.hint', null, tickEl)), backlogEl, chartBox),
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

  // setValue marks a cell only when its value changed: a gauge pushed the
  // same again, or a resync that sends the whole subtree, changes nothing.
  // Numbers are written in the key's unit as the charts write them (400 B,
  // 1.2 MiB, 3.5 ms, 400 G for a plain number); the exact value is the
  // cell's title and data-value.
  function setValue(r, v, now) {
    if (v === r.value) return;
    if (typeof v === 'number' && typeof r.value === 'number') r.delta = v - r.value;
    r.value = v;
    r.time = now;
    if (typeof v === 'number') {
      const u = tableUnit(r.key);
      r.tdVal.textContent = fmtUnit(v, u);
      r.tdVal.title = fmt(v);
      r.tdVal.dataset.value = String(v);
      r.tdDelta.textContent = r.delta ? (r.delta > 0 ? '+' : '') + fmtUnit(r.delta, u) : '';
    } else {
      r.tdVal.textContent = fmt(v);
      r.tdVal.title = '';
      delete r.tdVal.dataset.value;
      r.tdDelta.textContent = '';
    }
    r.tdTime.textContent = fmtClock(now);
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

  // The live chart: one point per tick of the daemon (its trend interval,
  // so the chart and the trend pages agree), appended in place. Counters
  // (add nodes) are drawn as rates by default: their running totals only
  // ever climb and hide what happens now.
  let win = Number(windowSel.value);
  let mode = asSel.value;
  let tick = DEFAULT_TICK;
  let actions = new Map();
  let units = new Map(); // key -> declared unit (the tree's defaultunit)
  const kindOf = (k) => kindFor(actions, k);
  // tableUnit is what a key's number is in: its declared unit, else its
  // name's (a counter's running total is in the unit, not per second).
  const tableUnit = (k) => declaredUnit(units, k);
  const ts = [];           // sample times (s)
  let raw = new Map();     // key -> sampled values (totals for counters), aligned with ts
  let noted = [];          // per sample: true when a backlog was merged since the one before
  let plot = null;
  const drawn = { points: 0, draws: 0 };
  const cap = () => Math.max(2, Math.ceil(win / tick) + 1);
  function label(k) {
    if (kindOf(k) !== 'counter') return k;
    return mode === 'rate' ? `${k} /s` : mode === 'count' ? `${k} per ${fmt(tick)} s` : `${k} total`;
  }
  // shown derives what is drawn from the samples: a counter's change over
  // each interval (per second for rates), a reset read as a fresh start,
  // and no point where a replay or catch-up merged old lines (they belong
  // at the log's own times, which the trend pages show).
  function shown(k) {
    const vals = raw.get(k);
    if (kindOf(k) !== 'counter' || mode === 'total') return vals;
    const out = new Array(vals.length).fill(null);
    for (let i = 1; i < vals.length; i++) {
      const a = vals[i - 1], b = vals[i];
      // A short first interval (the sample taken at load) is left out: a
      // few milliseconds make a rate of noise.
      if (a == null || b == null || noted[i] || ts[i] - ts[i - 1] < tick / 2) continue;
      const d = b >= a ? b - a : b;
      out[i] = mode === 'rate' ? d / (ts[i] - ts[i - 1]) : d;
    }
    return out;
  }
  // unitOf is what a series is drawn in: the key's unit, per second for a
  // counter drawn as a rate.
  function unitOf(k) {
    const u = tableUnit(k);
    return kindOf(k) === 'counter' && mode === 'rate' && !u.includes('/') ? u + '/s' : u;
  }
  // A counter drawn per tick sums over the window in the legend; anything
  // else shows its latest value.
  const summaryOf = (k) => (kindOf(k) === 'counter' && mode === 'count' ? 'sum' : 'last');
  function chartData() { return [ts, ...[...raw.keys()].map(shown)]; }
  // countDrawn runs after uPlot paints: the points inside the drawn x range,
  // kept on the chart element so a test reads what was painted, not what
  // the page meant to paint.
  function countDrawn(u) {
    let n = 0;
    const lo = u.scales.x.min, hi = u.scales.x.max;
    for (let i = 1; i < u.data.length; i++) {
      const ys = u.data[i];
      for (let j = 0; j < ys.length; j++) if (ys[j] != null && u.data[0][j] >= lo && u.data[0][j] <= hi) n++;
    }
    drawn.points = n;
    drawn.draws++;
    chartBox.dataset.points = String(n);
    chartBox.dataset.draws = String(drawn.draws);
  }
  function rebuildChart() {
    const charted = [...rows.values()].filter((r) => r.charted).map((r) => r.key);
    const old = raw;
    raw = new Map();
    for (const k of charted) raw.set(k, old.get(k) || new Array(ts.length).fill(null));
    if (plot) { plot.destroy(); plot = null; }
    const width = Math.max(280, chartBox.clientWidth || 600);
    const opts = baseOpts({ width, height: 260, labels: charted.map(label), units: charted.map(unitOf), summaries: charted.map(summaryOf), style: { type: chartType === 'bar' ? 'line' : chartType } });
    // The x axis is always the last `win` seconds, however few samples;
    // the y scales (one per unit) are set by rescale.
    for (const n in opts.scales) opts.scales[n].auto = false;
    opts.hooks = { draw: [countDrawn] };
    // A 24-hour clock, as in the table and the daemon's graphs.
    opts.axes[0] = { ...opts.axes[0], space: 70, values: axisTimes };
    plot = new uPlot(opts, chartData(), chartBox);
    shownY.clear();
    rescale();
    state.charts = [plot];
  }
  // sample takes one point of every charted key and draws it.
  function sample(t, backlog) {
    ts.push(t);
    noted.push(backlog);
    for (const [k, arr] of raw) {
      const r = rows.get(k);
      arr.push(r && typeof r.value === 'number' ? r.value : null);
    }
    trim();
    if (plot) {
      plot.setData(chartData(), false);
      rescale();
    }
  }
  function trim() {
    const n = ts.length - cap();
    if (n <= 0) return;
    ts.splice(0, n);
    noted.splice(0, n);
    for (const arr of raw.values()) arr.splice(0, n);
  }
  // rescale slides x to end at the last sample and commits the draw (one
  // per tick); each y scale moves only when its data leaves its rounded
  // range, so it does not twitch with each value.
  const shownY = new Set(); // y scales set at least once
  function rescale() {
    const now = ts.length ? ts[ts.length - 1] : Date.now() / 1000;
    const ranges = new Map(); // y scale -> [lo, hi]
    for (const n in plot.scales) if (n !== 'x') ranges.set(n, [Infinity, -Infinity]);
    plot.series.forEach((se, i) => {
      if (!i) return;
      const r = ranges.get(se.scale);
      for (const v of plot.data[i]) if (v != null) { if (v < r[0]) r[0] = v; if (v > r[1]) r[1] = v; }
    });
    plot.batch(() => {
      for (const [n, r] of ranges) {
        let [lo, hi] = r;
        if (lo > hi) { lo = 0; hi = 1; }
        const sc = plot.scales[n];
        if (shownY.has(n) && lo >= sc.min && hi <= sc.max && (hi - lo) >= (sc.max - sc.min) / 2) continue;
        const [ymin, ymax] = uPlot.rangeNum(lo, hi, 0.1, true);
        shownY.add(n);
        plot.setScale(n, { min: ymin, max: ymax });
      }
      plot.setScale('x', { min: now - win, max: now });
    });
  }
  windowSel.addEventListener('change', () => { win = Number(windowSel.value); trim(); if (plot) { plot.setData(chartData(), false); rescale(); } });
  asSel.addEventListener('change', () => { mode = asSel.value; rebuildChart(); });
  window.addEventListener('resize', debounce(() => { if (plot) plot.setSize({ width: Math.max(280, chartBox.clientWidth), height: 260 }); }, 150));
  window.addEventListener('canopy-theme', rebuildChart);

  // Backlog: while a followed log is behind or old lines were merged
  // (ingest.late_lines moved: a followed log's backlog, POST /replay, a
  // push of old lines), the tree takes in old lines faster than they
  // happened; those ticks are left out of the rates instead of drawn as a
  // spike now.
  let lastLate = null;
  async function backlogSince() {
    let behind = false;
    try {
      const st = await request('/status', { cache: 'no-store' }).then((r) => r.json());
      for (const f of st?.ingest?.files || []) if (f.behind_bytes > 0) behind = true;
      // late_lines grows when old lines merged, even a backlog read whole
      // between two samples (behind_bytes is 0 again by then).
      const late = st?.ingest?.late_lines;
      if (late != null && lastLate != null && late !== lastLate) behind = true;
      if (late != null) lastLate = late;
    } catch { /* no status: draw what the tree says */ }
    backlogEl.hidden = !behind;
    return behind;
  }
  // Samples fall on multiples of the tick, like the trend store's buckets.
  let prevBehind = false;
  function schedule() {
    const ms = tick * 1000;
    setTimeout(async () => {
      const t = Math.round(Date.now() / ms) * tick;
      const behind = await backlogSince();
      sample(t, behind || prevBehind);
      prevBehind = behind;
      schedule();
    }, ms - (Date.now() % ms) + 5);
  }

  // Initial load, then follow every key.
  const [results, metaList, tickS] = await Promise.all([
    Promise.all(keys.map((k) => get(k).catch((e) => e))),
    Promise.all(keys.map((k) => metaOf(k).catch(() => ({ actions: new Map(), units: new Map() })))),
    tickSeconds(),
  ]);
  actions = new Map(metaList.flatMap((m) => [...m.actions]));
  units = new Map(metaList.flatMap((m) => [...m.units]));
  tick = tickS;
  tickEl.textContent = `a point every ${fmt(tick)} s`;
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
  sample(Date.now() / 1000, false);
  schedule();

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
  state.live = { drawn, ts, kindOf, get noted() { return noted; } };
  state.ready = true;
}
