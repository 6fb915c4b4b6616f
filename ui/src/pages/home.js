// Home: the top-level subtrees with their current totals, links to every
// page, and the saved views.
import { get, listViews, keyURL, splitKey, fmtUnit } from '../api.js';
import { metaOf, kindFor, unitOf, isBucket } from '../kinds.js';
import { h, fmt, message } from '../dom.js';

const UNIT_ORDER = ['', 'B', 's'];

// summarize groups flat entries by top-level name. A subtree's totals add
// like with like only: counters (gauges are levels, and adding averages
// or temperatures means nothing), one sum per unit (requests are not added
// to bytes), and of the counters the shallowest numbers only: a number
// below a node that has one itself (br,ie,7 = 8 and br,ie,7,venders,sogou
// = 2) is a breakdown, not more; of a histogram's cumulative buckets only
// le,+Inf counts. kind(key) says 'counter' or 'gauge'; units are the
// tree's declared units (kinds.js metaOf).
export function summarize(entries, kind = () => 'counter', units) {
  const tops = new Map();
  const numbered = new Set();
  const nodes = new Set(); // every key and every key above one
  for (const [k, v] of entries) {
    if (typeof v === 'number') numbered.add(k);
    const parts = k.split(',');
    for (let i = 1; i <= parts.length; i++) nodes.add(parts.slice(0, i).join(','));
  }
  for (const [k, v] of entries) {
    const names = splitKey(k);
    const top = k.split(',')[0];
    let s = tops.get(top);
    if (!s) { s = { name: names[0], key: top, nodes: 0, totals: new Map(), gauges: 0, markers: 0 }; tops.set(top, s); }
    s.nodes++;
    if (typeof v !== 'number') { s.markers++; continue; }
    if (kind(k) !== 'counter') { s.gauges++; continue; }
    if (isBucket(k)) continue;
    const parts = k.split(',');
    let covered = false;
    for (let i = 1; i < parts.length; i++) {
      if (numbered.has(parts.slice(0, i).join(',')) && kind(parts.slice(0, i).join(',')) === 'counter') { covered = true; break; }
    }
    if (covered) continue;
    const u = unitOf(k, nodes, units);
    s.totals.set(u, (s.totals.get(u) || 0) + v);
  }
  return [...tops.values()].sort((a, b) => a.key.localeCompare(b.key));
}

// totalText writes a subtree's totals, one per unit ("6,000 · 1.2 MiB"),
// or a dash when it has no counters.
export function totalText(s) {
  const parts = [...s.totals].sort((a, b) => UNIT_ORDER.indexOf(a[0]) - UNIT_ORDER.indexOf(b[0])).map(([u, v]) => (u ? fmtUnit(v, u) : fmt(v)));
  return parts.length ? parts.join(' · ') : '—';
}

function totalTitle(s) {
  const notes = ['counters added per unit'];
  if (s.gauges) notes.push(`${s.gauges} gauge${s.gauges === 1 ? '' : 's'} not added`);
  if (s.markers) notes.push(`${s.markers} marker${s.markers === 1 ? '' : 's'}`);
  return notes.join('; ');
}

export async function home(main, state) {
  document.title = 'canopy';
  main.append(h('h1', null, 'canopy'));
  const treeBox = h('section.card', { 'aria-labelledby': 'h-tree' }, h('h2', { id: 'h-tree' }, 'Tree'));
  const viewsBox = h('section.card', { 'aria-labelledby': 'h-views' }, h('h2', { id: 'h-views' }, 'Saved views'));
  const pagesBox = h('section.card', { 'aria-labelledby': 'h-pages' }, h('h2', { id: 'h-pages' }, 'Pages'),
    h('ul.links', null,
      // No range named here: the explorer shows its own, and a copy here
      // would go stale when that changes.
      h('li', null, h('a', { href: '/trend/view/' }, 'Trend explorer'), ' — the tree and its history'),
      h('li', null, h('a', { href: '/setting/view' }, 'Views'), ' — create, edit and delete saved views'),
      h('li', null, h('a', { href: '/realtime/*' }, 'Realtime: everything'), ' — the whole tree, live'),
      h('li', null, h('a', { href: '/status' }, 'Status'), ' (JSON)')));
  main.append(h('div.grid2', null, treeBox, h('div', null, viewsBox, pagesBox)));

  const [treeRes, viewsRes, metaRes] = await Promise.allSettled([get('*'), listViews(), metaOf('*')]);
  if (treeRes.status === 'fulfilled') {
    const { actions, units } = metaRes.status === 'fulfilled' ? metaRes.value : { actions: new Map(), units: new Map() };
    const tops = summarize(treeRes.value.entries, (k) => kindFor(actions, k), units);
    if (!tops.length) treeBox.append(message('The tree is empty: push data or point canopyd at an access log.'));
    else {
      treeBox.append(h('table.data', { id: 'home-tree' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Subtree'), h('th.num', { scope: 'col' }, 'Total'), h('th.num', { scope: 'col' }, 'Nodes'), h('th', { scope: 'col' }, 'Pages'))),
        h('tbody', null, tops.map((t) => h('tr', { 'data-key': t.key },
          h('td', null, h('a', { href: '/realtime/' + keyURL(t.key) }, t.name)),
          h('td.num.total', { title: totalTitle(t) }, totalText(t)),
          h('td.num', null, fmt(t.nodes)),
          h('td', null, h('a', { href: '/realtime/' + keyURL(t.key) }, 'realtime'), ' · ',
            h('a', { href: '/trend/view/?key=' + encodeURIComponent(t.key + ',*') }, 'trend')))))));
      treeBox.append(h('p.hint', null, `Totals add counters only, one sum per unit (counts, bytes, seconds); gauges — averages and last values — are not added. Version ${treeRes.value.version ?? '?'}`));
    }
  } else treeBox.append(message(String(treeRes.reason.message), 'error'));

  if (viewsRes.status === 'fulfilled') {
    const views = viewsRes.value;
    if (!views.length) viewsBox.append(message('No saved views yet.'), h('p', null, h('a', { href: '/setting/view' }, 'Create one')));
    else viewsBox.append(h('ul.links', null, views.map((v) => h('li', null,
      h('strong', null, v.name), ' ',
      h('a', { href: '/realtime/view/' + encodeURIComponent(v.name) }, 'realtime'), ' · ',
      h('a', { href: '/trend/view/' + encodeURIComponent(v.name) }, 'trend'),
      h('span.hint', null, ' ' + (v.keys || []).join('  '))))));
  } else viewsBox.append(message(String(viewsRes.reason.message), 'error'));
  state.ready = true;
}
