// uPlot glue: theme-aware options, markers, and the master-detail pair.
import uPlot from 'uplot';
import { fmtTime, axisTimes } from './dom.js';
import { fmtUnit } from './api.js';

const PALETTE = ['#2f7ed8', '#e4572e', '#29a35a', '#9b59b6', '#f0a202', '#17becf',
  '#d62780', '#7f7f7f', '#8c564b', '#bcbd22'];

export function color(i) { return PALETTE[i % PALETTE.length]; }

// themeColors reads the theme's CSS variables once per theme: reading
// computed style after DOM changes forces a style pass, and a page with 40
// charts would pay it 40 times per draw.
let themeCache = null;
function themeColors() {
  const theme = document.documentElement.dataset.theme || '';
  if (themeCache && themeCache.theme === theme) return themeCache;
  const cs = getComputedStyle(document.documentElement);
  themeCache = {
    theme,
    fg: cs.getPropertyValue('--fg').trim() || '#222',
    grid: cs.getPropertyValue('--grid').trim() || '#ddd',
    marker: cs.getPropertyValue('--marker').trim() || '#c0392b',
  };
  return themeCache;
}

const compactFmt = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 2 });

// compact writes axis numbers short (120K, 3.5M) so they fit the axis.
export function compact(v) {
  if (v == null) return '';
  return Math.abs(v) < 1000 ? String(+v.toFixed(6)) : compactFmt.format(v);
}

// fitSize makes a value axis as wide as its longest label ("1.5 kreq/s"),
// so no label is cut off at the chart's edge: uPlot asks again after
// each layout with the labels it will draw.
function fitSize(u, values, axisIdx) {
  const ax = u.axes[axisIdx];
  if (!values || !values.length) return 50;
  const ctx = u.ctx;
  ctx.save();
  ctx.font = ax.font[0];
  let w = 0;
  for (const v of values) w = Math.max(w, ctx.measureText(v == null ? '' : String(v)).width);
  ctx.restore();
  return Math.ceil(w / devicePixelRatio + (ax.ticks.show ? ax.ticks.size : 0) + ax.gap + 4);
}

// axes: time, then one value axis per unit (the first on the left, the
// second on the right; series in further units still get their own scale
// and carry their unit in the legend).
function axes(tc, small, scales) {
  const ax = { stroke: tc.fg, grid: { stroke: tc.grid, width: 1 }, ticks: { stroke: tc.grid, width: 1 } };
  const xa = { ...ax, values: axisTimes }; // the 24-hour clock, as in /graph and the legends
  if (small) return [{ ...xa, size: 24, font: '10px system-ui' }, { show: false, scale: scales ? scales[0] : 'y' }];
  if (!scales) return [xa, { ...ax, size: fitSize, values: (u, splits) => splits.map(compact) }];
  return [xa, ...scales.slice(0, 2).map((unit, i) => ({
    ...ax, scale: unit, side: i ? 1 : 3, size: fitSize,
    grid: i ? { show: false } : ax.grid,
    incrs: /^uB(\/|$)/.test(unit) ? BYTE_INCRS : undefined,
    values: (u, splits) => tickLabels(splits, unit.slice(1)),
  }))];
}

// tickLabels writes an axis's ticks with as many decimals as keep them
// apart (0.005 req/s steps would otherwise read 0.01, 0.01, 0.02).
function tickLabels(splits, unit) {
  const want = new Set(splits).size;
  let out = [];
  for (let extra = 0; extra <= 4; extra++) {
    out = splits.map((v) => fmtUnit(v, unit, extra));
    if (new Set(out).size === want) break;
  }
  return out;
}

// Byte axes tick at powers of two (1, 2, 4 … 512 of each of B, KiB, MiB …),
// so they read "16 MiB", not "15.3 MiB".
const BYTE_INCRS = [];
for (let k = 0; k < 7; k++) for (let m = 1; m < 1024; m *= 2) BYTE_INCRS.push(m * 1024 ** k);

// markersPlugin draws each marker as a dashed vertical line with its text.
export function markersPlugin(getMarkers) {
  return {
    hooks: {
      draw: [(u) => {
        const ms = getMarkers();
        if (!ms.length) return;
        const { ctx } = u;
        const tc = themeColors();
        const { left, top, width, height } = u.bbox;
        ctx.save();
        ctx.strokeStyle = tc.marker;
        ctx.fillStyle = tc.marker;
        ctx.lineWidth = devicePixelRatio;
        ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
        ctx.font = `${10 * devicePixelRatio}px system-ui`;
        for (const m of ms) {
          const x = Math.round(u.valToPos(m.t, 'x', true));
          if (x < left || x > left + width) continue;
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          // The label sits right of its line, or left of it near the edge.
          const label = m.text.slice(0, 24);
          const w = ctx.measureText(label).width;
          const pad = 3 * devicePixelRatio;
          const lx = x + pad + w > left + width ? x - pad - w : x + pad;
          ctx.fillText(label, lx, top + 10 * devicePixelRatio);
        }
        ctx.restore();
      }],
    },
  };
}

// lonePoints marks the values of runs too short to see as a line (one
// sample between gaps, or a few within 4 px): without a dot such a sample
// would be invisible. uPlot draws every point itself when they are sparse
// (show).
function lonePoints(u, sidx, show) {
  if (show) return null;
  const xs = u.data[0], ys = u.data[sidx];
  const out = [];
  for (let i = 0; i < ys.length;) {
    if (ys[i] == null) { i++; continue; }
    let j = i;
    while (j + 1 < ys.length && ys[j + 1] != null) j++;
    if (j === i || u.valToPos(xs[j], 'x') - u.valToPos(xs[i], 'x') < 4) for (let k = i; k <= j; k++) out.push(k);
    i = j + 1;
  }
  return out.length ? out : null;
}

export function pathsFor(type) {
  if (type === 'bar') return uPlot.paths.bars({ size: [0.8, 40] });
  if (type === 'points') return () => null;
  return undefined; // linear
}

// summaryOf is what a series' legend says while the cursor is off the
// chart, from the points in view: 'last', the latest value (a rate, a
// gauge, a running total), or 'sum', their total (counts per bucket).
export function summaryOf(u, sidx, how = 'last') {
  const xs = u.data[0], ys = u.data[sidx];
  if (!xs || !ys) return null;
  const lo = u.scales.x?.min ?? -Infinity, hi = u.scales.x?.max ?? Infinity;
  if (how === 'sum') {
    let sum = null;
    for (let i = 0; i < ys.length; i++) if (ys[i] != null && xs[i] >= lo && xs[i] <= hi) sum = (sum ?? 0) + ys[i];
    return sum;
  }
  for (let i = ys.length - 1; i >= 0; i--) if (ys[i] != null && xs[i] >= lo && xs[i] <= hi) return ys[i];
  return null;
}

// legendText is a legend value: the one under the cursor, or with the
// cursor elsewhere (idx null) the series' summary, so the legend never
// stands empty ("Σ" marks a total).
function legendText(u, v, sidx, idx, unit, how) {
  if (idx == null) {
    const x = summaryOf(u, sidx, how);
    return x == null ? '—' : (how === 'sum' ? 'Σ ' : '') + fmtUnit(x, unit);
  }
  return v == null ? '—' : fmtUnit(v, unit);
}

// legendPlugin keeps the summaries current: uPlot recomputes the legend
// on its own only while the cursor is over the chart, not when data is
// appended or the window moves.
const legendPlugin = {
  hooks: { draw: [(u) => { if (u.cursor.idx == null) u.setLegend(); }] },
};

// seriesOpts builds the uPlot series list for labels in a chart style;
// with units, each series is on its unit's scale and its legend value
// carries the unit. summaries[i] ('last', the default, or 'sum') is what
// series i's legend shows with the cursor off the chart.
export function seriesOpts(labels, style = {}, units, summaries) {
  const type = style.type || 'line';
  const width = Number(style.width) || 1.5;
  return [{ value: (u, v) => (v == null ? '' : fmtTime(v)) }, ...labels.map((label, i) => {
    const c = style.colors?.[i] || color(i);
    const o = {
      label,
      stroke: c,
      width,
      fill: type === 'area' ? c + '33' : type === 'bar' ? c + 'aa' : undefined,
      paths: pathsFor(type),
      // Dots filled in the series' colour, so a lone sample shows. (Keys
      // set to undefined would override uPlot's defaults: a size of
      // undefined draws no dot at all.)
      points: type === 'points' ? { show: true, size: 4, fill: c } : type === 'bar' ? {} : { fill: c, filter: lonePoints },
      // null is "no sample" (the trend store leaves gaps empty): draw a gap, not a ramp
      spanGaps: false,
      dash: style.dashes?.[i],
    };
    if (units) {
      const unit = units[i] || '';
      o.scale = 'u' + unit;
      o.unit = unit;
      const how = summaries?.[i] || 'last';
      o.summary = how;
      o.value = (u, v, sidx, idx) => legendText(u, v, sidx, idx, unit, how);
    }
    return o;
  })];
}

// unitScales lists the distinct units' scale names, in order of first use.
function unitScales(units) {
  return [...new Set(units.map((u) => 'u' + (u || '')))];
}

export function baseOpts({ width, height, labels, style, small = false, markers, legend = true, units, summaries }) {
  const tc = themeColors();
  const scaleNames = units && labels.length ? unitScales(units) : null;
  const scales = { x: { time: true } };
  for (const n of scaleNames || ['y']) scales[n] = { distr: style?.log ? 3 : 1 };
  const opts = {
    width, height,
    series: seriesOpts(labels, style, scaleNames ? units : undefined, summaries),
    axes: axes(tc, small, scaleNames),
    legend: { show: legend && !small },
    scales,
    cursor: small ? { drag: { x: true, y: false, setScale: false }, points: { show: false }, y: false } : { drag: { x: true, y: false } },
    plugins: [...(markers ? [markersPlugin(markers)] : []), ...(legend && !small && scaleNames ? [legendPlugin] : [])],
  };
  if (small) opts.select = { show: true };
  return opts;
}

// align joins series with different timestamps into uPlot's aligned form.
// Points come as [[unix_ms, v], ...]; uPlot wants seconds.
export function align(seriesList) {
  if (!seriesList.length) return [[]];
  const tables = seriesList.map((pts) => {
    const xs = new Array(pts.length), ys = new Array(pts.length);
    for (let i = 0; i < pts.length; i++) { xs[i] = pts[i][0] / 1000; ys[i] = pts[i][1]; }
    return [xs, ys];
  });
  if (tables.length === 1) return tables[0];
  let same = true;
  const x0 = tables[0][0];
  for (const t of tables) {
    if (t[0].length !== x0.length) { same = false; break; }
    for (let i = 0; i < x0.length; i++) if (t[0][i] !== x0[i]) { same = false; break; }
    if (!same) break;
  }
  if (same) return [x0, ...tables.map((t) => t[1])];
  return honestJoin(uPlot.join(tables));
}

// honestJoin keeps a gap a gap after joining series with different
// timestamps: uPlot.join marks a slot a series has no timestamp for as
// undefined, which uPlot spans; next to one of the series' own nulls that
// would draw a line into the gap, so such slots become null too.
export function honestJoin(data) {
  for (let s = 1; s < data.length; s++) {
    const ys = data[s];
    let prev = null; // the last defined value before the undefined run: null or a number
    for (let i = 0; i < ys.length;) {
      if (ys[i] !== undefined) { prev = ys[i]; i++; continue; }
      let j = i;
      while (j < ys.length && ys[j] === undefined) j++;
      const next = j < ys.length ? ys[j] : null;
      if (prev === null || next === null) for (let k = i; k < j; k++) ys[k] = null;
      i = j;
    }
  }
  return data;
}

export { uPlot };
