// Views: create, edit and delete saved views (name, keys, chart type,
// range), and the access token the pages send when auth is configured.
import { listViews, saveView, deleteView, getToken, setToken } from '../api.js';
import { h, clear, message, RANGES } from '../dom.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export async function settings(main, state) {
  document.title = 'Views · canopy';
  const status = h('div', { id: 'views-status', role: 'status' });
  const listEl = h('div', { id: 'views-list' });
  const nameIn = h('input', { type: 'text', id: 'view-name', name: 'name', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}', autocomplete: 'off', placeholder: 'e.g. browsers' });
  const keysIn = h('textarea', { id: 'view-keys', name: 'keys', rows: 4, required: true, placeholder: 'one key per line, e.g.\nbr,ie\nbr,webkit,*' });
  const chartIn = h('select', { id: 'view-chart', name: 'chart' }, [['line', 'Line'], ['area', 'Area'], ['bar', 'Bars']].map(([v, l]) => h('option', { value: v }, l)));
  const rangeIn = h('select', { id: 'view-range', name: 'range' }, RANGES.map(([v, l]) => h('option', { value: v, selected: v === '-1d' }, l)));
  const formTitle = h('h2', { id: 'form-title' }, 'New view');
  const cancel = h('button.ghost', { type: 'button', id: 'view-cancel', hidden: true, onclick: () => reset() }, 'Cancel');
  let editing = null;
  const field = (label, input, hint) => h('div.field', null, h('label', { for: input.id }, label), input, hint ? h('small.hint', null, hint) : null);
  const form = h('form.card', { id: 'view-form', 'aria-labelledby': 'form-title', onsubmit: (e) => { e.preventDefault(); submit(); } },
    formTitle,
    field('Name', nameIn, 'Letters, digits, dot, dash, underscore.'),
    field('Keys', keysIn, 'One tree key per line; wildcards (*, **, globs) allowed.'),
    h('div.row2', null, field('Chart type', chartIn), field('Range', rangeIn)),
    h('div.toolbar', null, h('button', { type: 'submit', id: 'view-save' }, 'Save view'), cancel));

  const tokenIn = h('input', { type: 'password', id: 'token', autocomplete: 'off', value: getToken() });
  const tokenForm = h('form.card', { id: 'token-form', onsubmit: (e) => { e.preventDefault(); setToken(tokenIn.value.trim()); tokenNote.textContent = tokenIn.value.trim() ? 'Token saved in this browser.' : 'Token cleared.'; refresh(); } },
    h('h2', null, 'Access token'),
    field('Token', tokenIn, 'Only needed when canopyd has auth tokens configured; views are then kept per token.'),
    h('div.toolbar', null, h('button', { type: 'submit' }, 'Save token')));
  const tokenNote = h('p.hint', { role: 'status' });
  tokenForm.append(tokenNote);

  main.append(h('h1', null, 'Views'), status,
    h('div.grid2', null, h('section.card', { 'aria-labelledby': 'h-saved' }, h('h2', { id: 'h-saved' }, 'Saved views'), listEl), h('div', null, form, tokenForm)));

  function reset() {
    editing = null;
    form.reset();
    rangeIn.value = '-1d';
    nameIn.readOnly = false;
    formTitle.textContent = 'New view';
    cancel.hidden = true;
  }
  function edit(v) {
    editing = v.name;
    nameIn.value = v.name;
    nameIn.readOnly = true;
    keysIn.value = (v.keys || []).join('\n');
    chartIn.value = v.chart || 'line';
    rangeIn.value = v.range || '-1d';
    formTitle.textContent = `Edit view ${v.name}`;
    cancel.hidden = false;
    keysIn.focus();
  }
  function say(text, kind = 'ok') { clear(status).append(message(text, kind)); }

  async function submit() {
    const name = nameIn.value.trim();
    const keys = keysIn.value.split('\n').map((s) => s.trim()).filter(Boolean);
    if (!NAME_RE.test(name)) { say('The name may hold letters, digits, dot, dash and underscore (up to 64).', 'error'); nameIn.focus(); return; }
    if (!keys.length) { say('A view needs at least one key.', 'error'); keysIn.focus(); return; }
    try {
      await saveView({ name, keys, chart: chartIn.value, range: rangeIn.value }, { create: editing == null });
      say(`Saved view ${name}.`);
      reset();
      await refresh();
    } catch (e) { say(e.message, 'error'); }
  }

  async function refresh() {
    let views;
    try { views = await listViews(); } catch (e) { clear(listEl).append(message(e.message, 'error')); return; }
    clear(listEl);
    if (!views.length) { listEl.append(message('No saved views yet: create one with the form.')); return; }
    listEl.append(h('table.data', { id: 'views-table' },
      h('thead', null, h('tr', null, ['Name', 'Keys', 'Chart', 'Range', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, views.map((v) => {
        const del = h('button.danger', { type: 'button', 'data-action': 'delete', 'aria-label': `Delete view ${v.name}` }, 'Delete');
        let armed = 0;
        del.addEventListener('click', async () => {
          // Two clicks, no modal dialog: the first arms, the second deletes.
          if (!armed) {
            del.textContent = 'Confirm delete';
            armed = setTimeout(() => { armed = 0; del.textContent = 'Delete'; }, 4000);
            return;
          }
          clearTimeout(armed);
          try { await deleteView(v.name); say(`Deleted view ${v.name}.`); if (editing === v.name) reset(); await refresh(); } catch (e) { say(e.message, 'error'); }
        });
        return h('tr', { 'data-view': v.name },
          h('td', null, h('strong', null, v.name), h('div.hint', null,
            h('a', { href: '/realtime/view/' + encodeURIComponent(v.name) }, 'realtime'), ' · ',
            h('a', { href: '/trend/view/' + encodeURIComponent(v.name) }, 'trend'))),
          h('td.keys', null, (v.keys || []).join('\n')),
          h('td', null, v.chart || 'line'),
          h('td', null, (RANGES.find(([r]) => r === v.range) || [0, v.range || ''])[1]),
          h('td', null, h('button', { type: 'button', 'data-action': 'edit', 'aria-label': `Edit view ${v.name}`, onclick: () => edit(v) }, 'Edit'), ' ', del));
      }))));
    const want = decodeURIComponent(location.hash.slice(1));
    if (want && editing == null) { const v = views.find((x) => x.name === want); if (v) edit(v); }
  }
  await refresh();
  state.ready = true;
}
