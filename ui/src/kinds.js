// What a number is: a counter (an add node: a running total) or a gauge
// (average, max, min, last: a level), and its unit, so pages draw counters
// as rates and add only like with like.
import { request, joinKey, splitKey, keyUnit, canonUnit } from './api.js';

// metaOf reads where defaultactions and units are set under key, from the
// nested tree shape (/get?format=tree names them as defaultaction and
// defaultunit): {actions: key -> action, units: key -> unit}.
export async function metaOf(key) {
  const actions = new Map(), units = new Map();
  const r = await request('/get?key=' + encodeURIComponent(key) + '&format=tree', { cache: 'no-store' });
  const walk = (obj, names) => {
    if (!obj || typeof obj !== 'object') return;
    if (typeof obj.defaultaction === 'string') actions.set(joinKey(names), obj.defaultaction);
    if (typeof obj.defaultunit === 'string') units.set(joinKey(names), obj.defaultunit);
    for (const n in obj) if (n !== 'defaultaction' && n !== 'defaultunit' && n !== '') walk(obj[n], [...names, n]);
  };
  walk(await r.json(), []);
  return { actions, units };
}

// nearest finds the value set on key or nearest above it in m.
function nearest(m, key) {
  const parts = key.split(',');
  for (let i = parts.length; i > 0; i--) {
    const v = m.get(parts.slice(0, i).join(','));
    if (v != null) return v;
  }
  return undefined;
}

// declaredUnit is key's unit from the tree's metadata (metaOf's units),
// else from its name (api.js keyUnit).
export function declaredUnit(units, key) {
  const u = units && nearest(units, key);
  return u != null ? canonUnit(u) : keyUnit(key);
}

// kindFor says whether key is a 'counter' (add, the default action) or a
// 'gauge', from the nearest action set on it or above it.
export function kindFor(actions, key) {
  const parts = key.split(',');
  for (let i = parts.length; i >= 0; i--) {
    const a = actions.get(parts.slice(0, i).join(','));
    if (a) return a === 'add' ? 'counter' : 'gauge';
  }
  return 'counter';
}

// unitOf is a counter's unit for adding: the unit declared in the tree
// (units, from metaOf), else the key's (api.js reads it from the names the
// pipes write) with a histogram's sum (beside its le buckets) in seconds;
// requests count as plain counts. nodes, when given, holds every key of
// the tree and every key above one.
export function unitOf(key, nodes, units) {
  const names = splitKey(key);
  const declared = units && nearest(units, key);
  if (declared == null && names[names.length - 1] === 'sum' && nodes && nodes.has(joinKey([...names.slice(0, -1), 'le']))) return 's';
  const u = declaredUnit(units, key);
  return u === 'req' ? '' : u;
}

// isBucket reports a histogram bucket other than +Inf: buckets are
// cumulative (le,0.5 holds le,0.1's samples), so only +Inf is a count.
export function isBucket(key) {
  const names = splitKey(key);
  return names.length >= 2 && names[names.length - 2] === 'le' && names[names.length - 1] !== '+Inf';
}
