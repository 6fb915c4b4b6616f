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

export function fmtTime(sec) {
  const d = new Date(sec * 1000);
  return d.toLocaleString();
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
