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

// trend reads history: {series: [{key, points: [[ms, v]]}], markers: [{t (s), text, key}]}.
export async function trend(key, { from = '-1y', until = 'now', points = 1000, fn = '' } = {}, signal) {
  const q = new URLSearchParams({ key, from: String(from), until: String(until), points: String(Math.max(2, Math.round(points))) });
  if (fn) q.set('fn', fn);
  const r = await request('/trend?' + q, { signal });
  const j = await r.json();
  return { series: Array.isArray(j.series) ? j.series : [], markers: normMarkers(j.markers) };
}

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
