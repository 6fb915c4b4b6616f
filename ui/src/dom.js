// Tiny DOM helpers: h('div.cls', {attrs}, ...children).

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

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
const unitNF = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

// fmtUnit writes v in unit: bytes with IEC prefixes (400 B, 1.2 MiB),
// seconds as s/min/h, counts as plain numbers.
export function fmtUnit(v, unit) {
  if (typeof v !== 'number') return String(v);
  if (unit === 'bytes') {
    let i = 0, x = Math.abs(v);
    while (x >= 1024 && i < IEC.length - 1) { x /= 1024; i++; }
    return (v < 0 ? '-' : '') + unitNF.format(x) + ' ' + IEC[i];
  }
  if (unit === 'seconds') {
    const a = Math.abs(v);
    if (a >= 3600) return unitNF.format(v / 3600) + ' h';
    if (a >= 60) return unitNF.format(v / 60) + ' min';
    return unitNF.format(v) + ' s';
  }
  return fmt(v);
}

export function message(text, kind = 'info') {
  return h('p.msg.' + kind, { role: kind === 'error' ? 'alert' : 'status', text });
}

// debounce returns fn delayed until calls stop for ms.
export function debounce(fn, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// Ranges the pickers offer, as the trend API's relative times.
export const RANGES = [
  ['-1h', '1 hour'], ['-6h', '6 hours'], ['-1d', '1 day'], ['-7d', '7 days'],
  ['-30d', '30 days'], ['-1y', '1 year'],
];

export function rangeSeconds(r) {
  const m = /^-(\d+)([smhdwy])$/.exec(r || '');
  if (!m) return 365 * 86400;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400, y: 365 * 86400 }[m[2]];
  return Number(m[1]) * unit;
}
