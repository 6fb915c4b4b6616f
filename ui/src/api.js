// Talking to canopyd: the tree (/get, /pull), history (/trend) and saved
// views (/api/views). Every request carries the access token the user saved
// in /setting/view, so the same pages work when auth tokens are configured.

const TOKEN_KEY = 'canopy.token';

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY);
}

// keyURL puts a tree key into a URL path: commas stay readable, everything
// else that could break the path (including the % of %2C escapes) is encoded.
export function keyURL(key) {
  return encodeURIComponent(key).replace(/%2C/gi, ',').replace(/%2A/gi, '*');
}

export class HTTPError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

export async function request(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const t = getToken();
  if (t) headers.set('Authorization', 'Bearer ' + t);
  const r = await fetch(path, { ...opts, headers });
  if (!r.ok) {
    let msg = r.statusText;
    try { const j = await r.json(); if (j && j.error) msg = j.error; } catch { /* not JSON */ }
    throw new HTTPError(r.status, `${opts.method || 'GET'} ${path}: ${r.status} ${msg}`);
  }
  return r;
}

// parseFlat turns the seed's flat list [{"br,ie,7": 8}, ...] into [[key, value], ...].
export function parseFlat(list) {
  const out = [];
  if (!Array.isArray(list)) return out;
  for (const item of list) {
    for (const k in item) out.push([k, item[k]]);
  }
  return out;
}

function versionOf(r) {
  const v = r.headers.get('X-Canopy-Version');
  return v == null ? null : v;
}

// get reads a subtree: {entries: [[key, value]], version}.
export async function get(key, signal) {
  // Keys go in the query string: a key may hold '/', '%', spaces or any
  // character, and a path segment would be cut at the first slash.
  const r = await request('/get?key=' + encodeURIComponent(key), { signal });
  return { entries: parseFlat(await r.json()), version: versionOf(r) };
}

// follow keeps a subtree current: it calls onChanges(entries, version) for
// every batch of changes, using the /pull long-poll and passing back each
// version so no change is missed. When /pull is not served it falls back to
// reading /get once a second. Returns a stop function.
export function follow(key, since, onChanges, onState, { poll = false } = {}) {
  // One AbortController per request: a long-lived signal shared by
  // thousands of fetches keeps a record of each in some browsers.
  let ctl = null;
  let stopped = false;
  let version = since;
  const state = (s) => { if (onState) onState(s); };
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  (async () => {
    let failures = 0;
    let pull = !poll;
    state('live');
    while (!stopped) {
      try {
        let entries;
        if (pull) {
          const q = `/pull/?key=${encodeURIComponent(key)}&since=${encodeURIComponent(version ?? 0)}&timeout=25`;
          ctl = new AbortController();
          const r = await request(q, { signal: ctl.signal, cache: 'no-store' });
          entries = parseFlat(await r.json());
          const v = versionOf(r);
          if (v != null) version = v;
        } else {
          ctl = new AbortController();
          const g = await get(key, ctl.signal);
          if (g.version != null && g.version === version) { await sleep(1000); continue; }
          entries = g.entries;
          if (g.version != null) version = g.version;
          await sleep(1000);
        }
        failures = 0;
        state('live');
        if (entries.length) onChanges(entries, version);
      } catch (e) {
        if (stopped) return;
        if (e instanceof HTTPError && e.status === 404 && pull) { pull = false; continue; }
        failures++;
        state('reconnecting');
        await sleep(Math.min(5000, 250 * 2 ** failures));
      }
    }
  })();
  return () => { stopped = true; if (ctl) ctl.abort(); };
}

// trend reads history: {series: [{key, kind, as, fn, points: [[ms, v]]}],
// markers: [{t (s), text, key}], step (ms)}. The key goes in the query
// string, never the path: keys hold '/', '%', spaces and any character.
// top folds a pattern's series beyond the N largest into "other";
// percentile (e.g. '50,95,99') reads percentiles from a node's `le`
// buckets instead of the series themselves; as (counters) is rate (the
// API's default), count or total.
export async function trend(key, { from = '-1h', until = 'now', points = 1000, fn = '', as = '', top = 0, percentile = '' } = {}, signal) {
  const q = new URLSearchParams({ key, from: String(from), until: String(until), points: String(Math.max(2, Math.round(points))) });
  if (percentile) q.set('percentile', percentile);
  else {
    if (fn) q.set('fn', fn);
    if (as) q.set('as', as);
    if (top > 0) q.set('top', String(top));
  }
  const r = await request('/trend?' + q, { signal });
  const j = await r.json();
  return { series: Array.isArray(j.series) ? j.series : [], markers: normMarkers(j.markers), step: j.step_ms || 0 };
}

// search finds keys holding q: {keys: [{key, value?}], total, shown}; the
// total counts every match, so a capped list can say how many it leaves out.
export async function search(q, limit = 200, signal) {
  const r = await request('/search?' + new URLSearchParams({ q, limit: String(limit) }), { signal });
  const j = await r.json();
  const keys = Array.isArray(j.keys) ? j.keys : [];
  return { keys, total: j.total ?? keys.length, shown: j.shown ?? keys.length };
}

// isPattern tells a key that may match many series (a glob, an empty
// level, **) from an exact one: only patterns are asked for top=N.
export function isPattern(key) {
  return /[*?[{]/.test(key) || /(^|,)(,|$)/.test(key);
}

// Units. A /trend series carries `unit` when its node declares one (the
// pipes' NAME.units.json, agent modules' Ganglia units); for the rest the
// unit comes from the key, by the names the built-in pipes, StatsD and the
// agent's modules write (their READMEs): the first rule that matches wins.
//   "K pNN" (a percentile)                      the bounds' unit: ms under statsd,timers, else s
//   statsd,timers,…,count|count_ps|le,…          requests
//   statsd,timers,…                              ms (etsy's timer fields)
//   reqtime|upstream|latp,… le buckets           requests
//   reqtime|upstream|latp,…                      s   (nginx's $request_time)
//   a level holding "percent" or "pct"           %
//   a level holding "bytes", or mem,… (not _percent)  B (IEC: KiB, MiB)
//   requests, status, errors, url, br, os, req, ref, time, hits, visitors  requests
// anything else has no unit (numbers with SI prefixes). Counters read as a
// rate get "/s"; as=count is per bucket, as=total a running total.
const UNIT_RULES = [
  [/^statsd,timers,.*,(count|count_ps|count_\d+)$|^statsd,timers,.*,le(,|$)/, 'req'],
  [/^statsd,timers,/, 'ms'],
  [/^(reqtime|upstream|latp?)(,.*)?,le(,|$)|^lat,hits(,|$)/, 'req'],
  [/^(reqtime|upstream|latp)(,|$)/, 's'],
  [/(^|,)[^,]*(percent|pct)[^,]*$/i, '%'],
  [/(^|,)[^,]*bytes[^,]*(,|$)|(^|,)mem,/i, 'B'],
  [/^(requests|status|errors|url|br|os|req|ref|time|visitors|hits)(,|$)|(^|,)hits(,|$)/, 'req'],
];

export function keyUnit(key) {
  const m = / p(\d+(\.\d+)?)$/.exec(key);
  if (m) return /^statsd,timers,/.test(key) ? 'ms' : 's';
  for (const [re, u] of UNIT_RULES) if (re.test(key)) return u;
  return '';
}

// canonUnit spells a declared unit the way the API answers it (daemon/api
// CanonicalUnit): "bytes" B, "KB" KiB, "sec" s, "requests" req, "X/sec"
// X/s; the tree's defaultunit is as declared, /trend's already canonical.
const SPELLINGS = {
  b: 'B', byte: 'B', bytes: 'B', kb: 'KiB', kib: 'KiB', mb: 'MiB', mib: 'MiB', gb: 'GiB', gib: 'GiB',
  s: 's', sec: 's', secs: 's', second: 's', seconds: 's', ms: 'ms', msec: 'ms', millisecond: 'ms', milliseconds: 'ms',
  us: 'µs', 'µs': 'µs', microseconds: 'µs', '%': '%', percent: '%', pct: '%',
  req: 'req', reqs: 'req', request: 'req', requests: 'req',
};
export function canonUnit(u) {
  u = String(u || '').trim();
  if (!u) return '';
  let base = u, per = '';
  const i = u.indexOf('/');
  if (i > 0) { base = u.slice(0, i); per = u.slice(i + 1).trim().toLowerCase(); }
  base = SPELLINGS[base.trim().toLowerCase()] ?? base.trim();
  if (per === 's' || per === 'sec' || per === 'second') return base + '/s';
  return per ? base + '/' + per : base;
}

// seriesUnit is what a /trend series' values are in: the API's unit (from
// the node's metadata), else the key's, per second for a counter read as
// a rate.
export function seriesUnit(s) {
  if (typeof s.unit === 'string' && s.unit) return s.unit;
  const u = keyUnit(s.key);
  if (s.kind === 'counter' && (s.as || 'rate') === 'rate') return (u || '') + '/s';
  return u;
}

// seriesSummary is what a chart's legend shows for s with the cursor off
// the chart (chart.js summaryOf): a counter read per bucket sums over the
// window, anything else shows its latest value.
export function seriesSummary(s) {
  return s.kind === 'counter' && s.as === 'count' ? 'sum' : 'last';
}

const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
const IEC = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

function num(v, extra = 0) {
  const a = Math.abs(v);
  const d = (a >= 100 ? 0 : a >= 10 ? 1 : 2) + extra;
  return String(+v.toFixed(d));
}

// fmtUnit writes v in unit u with the right prefixes: "400 B", "1.5 KiB/s",
// "400 G" (a number without a unit, 4e11), "2.3 ms", "12 req/s"; extra
// decimals on request (axes whose ticks would otherwise read alike).
export function fmtUnit(v, u = '', extra = 0) {
  if (v == null || !isFinite(v)) return v == null ? '' : String(v);
  const slash = u.indexOf('/');
  let base = slash < 0 ? u : u.slice(0, slash);
  const per = slash < 0 ? '' : u.slice(slash);
  // Units with a prefix of their own (Ganglia's KB of memory, µs) are
  // written from their base, so 1048576 KiB reads "1 GiB".
  const scaled = { KiB: [1024, 'B'], MiB: [1024 ** 2, 'B'], GiB: [1024 ** 3, 'B'], 'µs': [1e-6, 's'] }[base];
  if (scaled) { v *= scaled[0]; base = scaled[1]; }
  const a = Math.abs(v);
  const sp = (p, b) => (p + b ? ' ' + p + b + per : per);
  if (base === 'B') {
    let i = 0, x = v;
    while (Math.abs(x) >= 1024 && i < IEC.length - 1) { x /= 1024; i++; }
    return num(x, extra) + sp(IEC[i], 'B');
  }
  if (base === 's' || base === 'ms') {
    let x = base === 'ms' ? v / 1000 : v; // seconds
    if (a === 0) return '0' + sp('', base);
    const ax = Math.abs(x);
    if (ax < 1e-3) return num(x * 1e6, extra) + sp('', 'µs');
    if (ax < 1) return num(x * 1e3, extra) + sp('', 'ms');
    return num(x, extra) + sp('', 's');
  }
  if (base === '%') return num(v, extra) + ' %' + per;
  let i = 0, x = v;
  while (Math.abs(x) >= 1000 && i < SI.length - 1) { x /= 1000; i++; }
  return num(x, extra) + sp(SI[i], base);
}

// Time presets every history page offers, as the trend API's relative times.
export const PRESETS = [
  ['-5m', '5m'], ['-1h', '1h'], ['-6h', '6h'], ['-1d', '24h'], ['-7d', '7d'], ['-30d', '30d'], ['-1y', '1y'],
];

// Auto-refresh choices in seconds (0: off).
export const REFRESH = [[0, 'off'], [10, '10s'], [60, '1m']];

// normMarkers accepts the marker shapes a trend store may return:
// {time|t|ts: ms or s, text|marker|value: "..."} or [time, "text"].
export function normMarkers(list) {
  const out = [];
  if (!Array.isArray(list)) return out;
  for (const m of list) {
    let t, text, key = '';
    if (Array.isArray(m)) { [t, text] = m; } else if (m && typeof m === 'object') {
      t = m.time ?? m.t ?? m.ts ?? m.timestamp ?? m.unix_ms;
      text = m.text ?? m.marker ?? m.value ?? m.label ?? '';
      key = m.key || '';
    }
    if (typeof t === 'string') t = Date.parse(t);
    if (typeof t !== 'number' || !isFinite(t)) continue;
    if (t > 1e11) t = t / 1000; // ms → s
    out.push({ t, text: String(text), key });
  }
  return out;
}

export async function listViews() {
  const r = await request('/api/views', { cache: 'no-store' });
  const j = await r.json();
  return Array.isArray(j) ? j : [];
}

export async function saveView(view, { create = false } = {}) {
  const r = await request(create ? '/api/views' : '/api/views/' + encodeURIComponent(view.name), {
    method: create ? 'POST' : 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(view),
  });
  return r.json();
}

export async function deleteView(name) {
  await request('/api/views/' + encodeURIComponent(name), { method: 'DELETE' });
}

// splitKey splits an exact key into names, undoing %2C and %25 escapes.
export function splitKey(key) {
  return key.split(',').map((s) => s.replace(/%2C/gi, ',').replace(/%25/g, '%'));
}

export function joinKey(names) {
  return names.map((n) => n.replace(/%/g, '%25').replace(/,/g, '%2C')).join(',');
}
