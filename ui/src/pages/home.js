// Home: the top-level subtrees with their current totals, links to every
// page, and the saved views.
import { get, listViews, keyURL, splitKey } from '../api.js';
import { h, fmt, message } from '../dom.js';

// summarize groups flat entries by top-level name. A subtree's total adds
// the shallowest numbers only: a number below a node that has one itself
// (br,ie,7 = 8 and br,ie,7,venders,sogou = 2) is a breakdown, not more.
export function summarize(entries) {
  const tops = new Map();
  const numbered = new Set();
  for (const [k, v] of entries) if (typeof v === 'number') numbered.add(k);
  for (const [k, v] of entries) {
    const names = splitKey(k);
    const top = k.split(',')[0];
    let s = tops.get(top);
    if (!s) { s = { name: names[0], key: top, nodes: 0, total: 0, markers: 0 }; tops.set(top, s); }
    s.nodes++;
    if (typeof v !== 'number') { s.markers++; continue; }
    const parts = k.split(',');
    let covered = false;
    for (let i = 1; i < parts.length; i++) {
      if (numbered.has(parts.slice(0, i).join(','))) { covered = true; break; }
    }
    if (!covered) s.total += v;
  }
  return [...tops.values()].sort((a, b) => a.key.localeCompare(b.key));
}

export async function home(main, state) {
  document.title = 'canopy';
  main.append(h('h1', null, 'canopy'));
  const treeBox = h('section.card', { 'aria-labelledby': 'h-tree' }, h('h2', { id: 'h-tree' }, 'Tree'));
  const viewsBox = h('section.card', { 'aria-labelledby': 'h-views' }, h('h2', { id: 'h-views' }, 'Saved views'));
  const pagesBox = h('section.card', { 'aria-labelledby': 'h-pages' }, h('h2', { id: 'h-pages' }, 'Pages'),
    h('ul.links', null,
      h('li', null, h('a', { href: '/trend/view/' }, 'Trend explorer'), ' — the tree and its history, one year by default'),
      h('li', null, h('a', { href: '/setting/view' }, 'Views'), ' — create, edit and delete saved views'),
      h('li', null, h('a', { href: '/realtime/*' }, 'Realtime: everything'), ' — the whole tree, live'),
      h('li', null, h('a', { href: '/status' }, 'Status'), ' (JSON)')));
  main.append(h('div.grid2', null, treeBox, h('div', null, viewsBox, pagesBox)));

  const [treeRes, viewsRes] = await Promise.allSettled([get('*'), listViews()]);
  if (treeRes.status === 'fulfilled') {
    const tops = summarize(treeRes.value.entries);
    if (!tops.length) treeBox.append(message('The tree is empty: push data or point canopyd at an access log.'));
    else {
      treeBox.append(h('table.data', null,
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Subtree'), h('th.num', { scope: 'col' }, 'Total'), h('th.num', { scope: 'col' }, 'Nodes'), h('th', { scope: 'col' }, 'Pages'))),
        h('tbody', null, tops.map((t) => h('tr', null,
          h('td', null, h('a', { href: '/realtime/' + keyURL(t.key) }, t.name)),
          h('td.num', null, fmt(t.total)),
          h('td.num', null, fmt(t.nodes)),
          h('td', null, h('a', { href: '/realtime/' + keyURL(t.key) }, 'realtime'), ' · ',
            h('a', { href: '/trend/view/?key=' + encodeURIComponent(t.key + ',*') }, 'trend')))))));
      treeBox.append(h('p.hint', null, `Version ${treeRes.value.version ?? '?'}`));
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
