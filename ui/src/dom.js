// Tiny DOM helpers: h('div.cls', {attrs}, ...children).
import { PRESETS } from './api.js';

export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const k in attrs) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (k in el && k !== 'list' && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const nf = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });

export function fmt(v) {
  if (typeof v !== 'number') return String(v);
  if (Math.abs(v) >= 1e15) return v.toExponential(3);
  return nf.format(v);
}

// Times are written on a 24-hour clock on every page, as the daemon's
// graphs (/graph) write them, so no page says 13:00 where another says 1 PM.
const timeFmt = new Intl.DateTimeFormat(undefined, { hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { hourCycle: 'h23', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function fmtTime(sec) {
  return dateTimeFmt.format(new Date(sec * 1000));
}

// fmtClock writes a time of day (ms since the epoch) as 13:04:05.
export function fmtClock(ms) {
  return timeFmt.format(new Date(ms));
}

export function message(text, kind = 'info') {
  return h('p.msg.' + kind, { role: kind === 'error' ? 'alert' : 'status', text });
}

const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const yearFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short' });
const hmFmt = new Intl.DateTimeFormat(undefined, { hourCycle: 'h23', hour: '2-digit', minute: '2-digit' });

// axisTimes labels a uPlot time axis (splits in seconds) on the same
// 24-hour clock: 13:04:05 for steps under a minute, 13:04 under a day
// (with the date where the day changes), Dec 7 under a month, then
// Dec 2026. Use it as the x axis' values: { values: axisTimes }.
export function axisTimes(u, splits, axisIdx, space, incr) {
  let prevDay = '';
  return splits.map((v) => {
    const d = new Date(v * 1000);
    if (incr >= 28 * 86400) return yearFmt.format(d);
    if (incr >= 86400) return dayFmt.format(d);
    const day = dayFmt.format(d);
    const t = incr < 60 ? timeFmt.format(d) : hmFmt.format(d);
    const first = prevDay !== day;
    prevDay = day;
    return first && incr >= 60 ? t + '\n' + day : t;
  });
}

// debounce returns fn delayed until calls stop for ms.
export function debounce(fn, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// Ranges the pickers offer: the history pages' presets, with their
// labels, so a view saved as "24h" is called 24h on every page.
export const RANGES = PRESETS;

export function rangeSeconds(r) {
  const m = /^-(\d+)([smhdwy])$/.exec(r || '');
  if (!m) return 365 * 86400;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400, y: 365 * 86400 }[m[2]];
  return Number(m[1]) * unit;
}
