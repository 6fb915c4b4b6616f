// uPlot glue: theme-aware options, markers, and the master-detail pair.
import uPlot from 'uplot';
import { fmtTime } from './dom.js';

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

function axes(tc, small) {
  const ax = { stroke: tc.fg, grid: { stroke: tc.grid, width: 1 }, ticks: { stroke: tc.grid, width: 1 } };
  if (small) return [{ ...ax, size: 24, font: '10px system-ui' }, { show: false }];
  return [ax, { ...ax, size: 56, values: (u, splits) => splits.map(compact) }];
}

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

export function pathsFor(type) {
  if (type === 'bar') return uPlot.paths.bars({ size: [0.8, 40] });
  if (type === 'points') return () => null;
  return undefined; // linear
}

// seriesOpts builds the uPlot series list for labels in a chart style.
export function seriesOpts(labels, style = {}) {
  const type = style.type || 'line';
  const width = Number(style.width) || 1.5;
  return [{ value: (u, v) => (v == null ? '' : fmtTime(v)) }, ...labels.map((label, i) => {
    const c = style.colors?.[i] || color(i);
    return {
      label,
      stroke: c,
      width,
      fill: type === 'area' ? c + '33' : type === 'bar' ? c + 'aa' : undefined,
      paths: pathsFor(type),
      points: { show: type === 'points' ? true : undefined, size: type === 'points' ? 4 : undefined },
      // null is "no sample" (the trend store leaves gaps empty): draw a gap, not a ramp
      spanGaps: false,
      dash: style.dashes?.[i],
    };
  })];
}

export function baseOpts({ width, height, labels, style, small = false, markers, legend = true }) {
  const tc = themeColors();
  const opts = {
    width, height,
    series: seriesOpts(labels, style),
    axes: axes(tc, small),
    legend: { show: legend && !small },
    scales: { x: { time: true }, y: { distr: style?.log ? 3 : 1 } },
    cursor: small ? { drag: { x: true, y: false, setScale: false }, points: { show: false }, y: false } : { drag: { x: true, y: false } },
    plugins: markers ? [markersPlugin(markers)] : [],
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
  return uPlot.join(tables);
}

export { uPlot };
