// What a number is: a counter (an add node: a running total) or a gauge
// (average, max, min, last: a level), and its unit, so pages draw counters
// as rates and add only like with like.
import { request, joinKey, splitKey, keyUnit } from './api.js';

// actionsOf reads where defaultactions are set under key, from the nested
// tree shape (/get?format=tree names them), as key -> action.
export async function actionsOf(key) {
  const out = new Map();
  const r = await request('/get?key=' + encodeURIComponent(key) + '&format=tree', { cache: 'no-store' });
  const walk = (obj, names) => {
    if (!obj || typeof obj !== 'object') return;
    if (typeof obj.defaultaction === 'string') out.set(joinKey(names), obj.defaultaction);
    for (const n in obj) if (n !== 'defaultaction' && n !== '') walk(obj[n], [...names, n]);
  };
  walk(await r.json(), []);
  return out;
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

// unitOf is a counter's unit for adding: the key's unit (api.js reads it
// from the names the pipes write), a histogram's sum (beside its le
// buckets) in seconds, and requests counted as plain counts. nodes, when
// given, holds every key of the tree and every key above one.
export function unitOf(key, nodes) {
  const names = splitKey(key);
  if (names[names.length - 1] === 'sum' && nodes && nodes.has(joinKey([...names.slice(0, -1), 'le']))) return 's';
  const u = keyUnit(key);
  return u === 'req' ? '' : u;
}

// isBucket reports a histogram bucket other than +Inf: buckets are
// cumulative (le,0.5 holds le,0.1's samples), so only +Inf is a count.
export function isBucket(key) {
  const names = splitKey(key);
  return names.length >= 2 && names[names.length - 2] === 'le' && names[names.length - 1] !== '+Inf';
}
