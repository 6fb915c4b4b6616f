// canopy's web UI: one bundle, one HTML shell; the page is chosen from the
// URL path so every route the daemon serves loads the same two files.
import { h, clear, message } from './dom.js';
import { setToken, request } from './api.js';
import { home } from './pages/home.js';
import { realtime } from './pages/realtime.js';
import { explorer } from './pages/explorer.js';
import { trendView } from './pages/trendview.js';
import { settings } from './pages/settings.js';
import { overview } from './pages/overview.js';

// window.canopy is the page's state for people poking in the console and for
// the browser tests (ready flags, charts, timings).
const state = { page: '', ready: false, charts: [], timings: {} };
window.canopy = state;

const THEME_KEY = 'canopy.theme';

function applyTheme(t) {
  document.documentElement.dataset.theme = t;
  const b = document.getElementById('theme-toggle');
  if (b) {
    b.textContent = t === 'dark' ? 'Light theme' : 'Dark theme';
    b.setAttribute('aria-pressed', String(t === 'dark'));
  }
}

function initialTheme() {
  let t = '';
  try { t = localStorage.getItem(THEME_KEY) || ''; } catch { /* storage off */ }
  if (t !== 'dark' && t !== 'light') t = matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  return t;
}

function header(active) {
  const link = (href, text, id) => h('a', { href, 'aria-current': active === id ? 'page' : null, text });
  const toggle = h('button.ghost', {
    type: 'button',
    id: 'theme-toggle',
    onclick: () => {
      const t = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
      try { localStorage.setItem(THEME_KEY, t); } catch { /* storage off */ }
      applyTheme(t);
      window.dispatchEvent(new Event('canopy-theme'));
    },
  });
  return h('header.top', null,
    h('a.brand', { href: '/' }, 'canopy'),
    h('nav', { 'aria-label': 'Main' },
      link('/', 'Home', 'home'),
      link('/overview', 'Overview', 'overview'),
      link('/trend/view/', 'Trend explorer', 'explorer'),
      link('/setting/view', 'Views', 'settings')),
    toggle);
}

// demoBanner says so while the daemon feeds itself generated lines (no
// log configured): numbers on every page are then made up.
// body[data-demo] says what the page made of /status (on, off or
// unknown), so a test can wait for the answer rather than sleep.
function demoBanner() {
  request('/status', { cache: 'no-store' }).then((r) => r.json()).then((st) => {
    const demo = st && st.ingest && st.ingest.demo;
    document.body.dataset.demo = demo && demo.running ? 'on' : 'off';
    if (!demo || !demo.running) return;
    const b = h('div.banner', { id: 'demo-banner', role: 'status' },
      h('strong', null, 'Demo data. '),
      'canopy is following generated nginx lines because no log is configured. ',
      'Set sources: in canopyd.yaml or start it with -log PATH; the demo stops at the first push.');
    document.querySelector('header.top').after(b);
  }).catch(() => { document.body.dataset.demo = 'unknown'; /* no status: no banner */ });
}

function route(path) {
  const dec = (s) => { try { return decodeURIComponent(s); } catch { return s; } };
  let m;
  if (path === '/' || path === '') return ['home', home, []];
  if ((m = /^\/realtime\/view\/(.+)$/.exec(path))) return ['realtime-view', realtime, [{ view: dec(m[1]) }]];
  if ((m = /^\/realtime\/(.+)$/.exec(path))) return ['realtime', realtime, [{ key: dec(m[1]) }]];
  if (/^\/trend\/view\/?$/.test(path)) return ['explorer', explorer, []];
  if ((m = /^\/trend\/view\/(.+?)\/?$/.exec(path))) return ['trend-view', trendView, [dec(m[1])]];
  if (/^\/setting\/view\/?$/.test(path)) return ['settings', settings, []];
  if (/^\/overview\/?$/.test(path)) return ['overview', overview, []];
  return ['notfound', null, []];
}

function start() {
  // A token in the URL (?access_token=, as links from scripts carry it) is
  // kept in this browser and taken out of the address bar.
  const q = new URLSearchParams(location.search);
  if (q.has('access_token')) {
    setToken(q.get('access_token'));
    q.delete('access_token');
    history.replaceState(null, '', location.pathname + (q.toString() ? '?' + q : '') + location.hash);
  }
  applyTheme(initialTheme());
  const [page, fn, args] = route(location.pathname);
  state.page = page;
  document.body.dataset.page = page;
  const active = page === 'explorer' || page === 'trend-view' ? 'explorer' : page === 'settings' ? 'settings' : page === 'home' ? 'home' : page === 'overview' ? 'overview' : '';
  document.body.prepend(header(active));
  demoBanner();
  applyTheme(document.documentElement.dataset.theme);
  const main = document.getElementById('app');
  clear(main);
  if (!fn) {
    main.append(h('section.card', null, h('h1', null, 'Not found'), message(`No page at ${location.pathname}.`, 'error'),
      h('p', null, h('a.back', { href: '/' }, 'Back to canopy'), ' (the home page)')));
    state.ready = true;
    return;
  }
  Promise.resolve(fn(main, state, ...args)).catch((e) => {
    main.append(message(String(e.message || e), 'error'));
    state.ready = true;
  });
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
