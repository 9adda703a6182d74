/**
 * Plots without a plotting library: line charts and a confusion-matrix heatmap written as SVG
 * strings, pure functions of their data (`chart-node.ts` renders them to PNG and writes the files).
 * The training curves (`train/plot.ts`) and the evaluation's confusion matrix (`eval/files-node.ts`)
 * are drawn with them.
 */
export interface Series {
  name: string;
  /** [x, y] pairs; non-finite y values are skipped. */
  points: readonly (readonly [number, number])[];
  color?: string;
  /** Draw a dot at every point (for sparse, per-epoch series). Default false. */
  markers?: boolean;
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Pixels. Defaults 760 × 440. */
  width?: number;
  height?: number;
  /** Fixed y range; default from the data. */
  yMin?: number;
  yMax?: number;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

/**
 * Escapes text for SVG, in content and in attribute values alike. Every string that is not a
 * literal of this file (titles, labels, series names, class names, colours) goes through it.
 * Characters XML 1.0 forbids (control characters, lone surrogates), which would make the whole
 * document unreadable, become U+FFFD.
 */
export function xmlEscape(s: string): string {
  // Control characters and lone surrogates make librsvg refuse the whole document.
  return s
    .replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
    .replace(
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
      '\ufffd',
    );
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 × 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return [];
  if (hi <= lo) hi = lo + (Math.abs(lo) || 1);
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000 || a < 0.001) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** A line chart as an SVG document. */
export function lineChartSvg(series: readonly Series[], o: ChartOptions): string {
  const W = o.width ?? 760;
  const H = o.height ?? 440;
  const m = { left: 70, right: 20, top: 54, bottom: 56 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const pts = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  let x0 = Math.min(...pts.map((p) => p[0]));
  let x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = o.yMin ?? Math.min(...pts.map((p) => p[1]));
  let y1 = o.yMax ?? Math.max(...pts.map((p) => p[1]));
  if (!pts.length) [x0, x1, y0, y1] = [0, 1, o.yMin ?? 0, o.yMax ?? 1];
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) {
    const pad = Math.abs(y0) * 0.1 || 1;
    y0 -= pad;
    y1 += pad;
  }
  const xt = niceTicks(x0, x1, 8);
  const yt = niceTicks(y0, y1, 6);
  if (o.yMin === undefined && yt.length) y0 = Math.min(y0, yt[0]!);
  if (o.yMax === undefined && yt.length) y1 = Math.max(y1, yt[yt.length - 1]!);
  const sx = (x: number): number => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number): number => m.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const r = (v: number): string => v.toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" font-size="12">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${xmlEscape(o.title)}</text>`);
  for (const t of yt) {
    if (t < y0 - 1e-12 || t > y1 + 1e-12) continue;
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${r(sy(t))}" y2="${r(sy(t))}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 6}" y="${r(sy(t) + 4)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of xt) {
    if (t < x0 - 1e-12 || t > x1 + 1e-12) continue;
    parts.push(`<line x1="${r(sx(t))}" x2="${r(sx(t))}" y1="${m.top}" y2="${m.top + ph}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${r(sx(t))}" y="${m.top + ph + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<clipPath id="plot"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${H - 14}" text-anchor="middle" font-size="13">${xmlEscape(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13">${xmlEscape(o.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = xmlEscape(s.color ?? PALETTE[i % PALETTE.length]!);
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (p.length > 1) {
      const d = p.map(([x, y], j) => `${j ? 'L' : 'M'}${r(sx(x))} ${r(sy(y))}`).join(' ');
      parts.push(
        `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="6 4"' : ''} clip-path="url(#plot)"/>`,
      );
    }
    if (s.markers || p.length === 1)
      for (const [x, y] of p) if (y >= y0 && y <= y1) parts.push(`<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="3" fill="${color}"/>`);
  });
  // Legend: one row between the title and the plot.
  let lx = m.left;
  series.forEach((s, i) => {
    const color = xmlEscape(s.color ?? PALETTE[i % PALETTE.length]!);
    const y = 40;
    parts.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${y - 4}" y2="${y - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    parts.push(`<text x="${lx + 27}" y="${y}">${xmlEscape(s.name)}</text>`);
    lx += 27 + 7 * s.name.length + 18;
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/**
 * A confusion-matrix heatmap: rows are true classes, columns predictions; cell colour is the
 * row-normalized rate (so each row reads as that class's recall), the text the count.
 */
export function confusionSvg(matrix: readonly (readonly number[])[], classes: readonly string[], title = 'Confusion matrix'): string {
  const k = matrix.length;
  const cell = k <= 12 ? 44 : k <= 30 ? 20 : Math.max(4, Math.floor(900 / k));
  const showText = cell >= 30;
  const showNames = cell >= 14;
  const nameW = showNames ? Math.min(130, 8 + 7 * Math.max(...classes.map((c) => c.length), 1)) : 30;
  const m = { left: nameW + 30, top: 50 + (showNames ? nameW : 20), right: showNames ? 70 : 20, bottom: 40 };
  const W = m.left + k * cell + m.right;
  const H = m.top + k * cell + m.bottom;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" font-size="11">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${xmlEscape(title)}</text>`);
  for (let i = 0; i < k; i++) {
    const row = matrix[i]!;
    const total = row.reduce((a, b) => a + b, 0);
    for (let j = 0; j < k; j++) {
      const v = row[j] ?? 0;
      const rate = total ? v / total : 0;
      // white → dark blue
      const t = Math.sqrt(rate);
      const c = (a: number, b: number): number => Math.round(a + (b - a) * t);
      const fill = `rgb(${c(255, 8)},${c(255, 48)},${c(255, 107)})`;
      const x = m.left + j * cell;
      const y = m.top + i * cell;
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd" stroke-width="0.5"/>`);
      if (showText && v)
        parts.push(
          `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" fill="${t > 0.6 ? '#fff' : '#222'}">${v}</text>`,
        );
    }
    if (showNames)
      parts.push(
        `<text x="${m.left - 6}" y="${m.top + i * cell + cell / 2 + 4}" text-anchor="end">${xmlEscape(classes[i] ?? String(i))}</text>`,
      );
  }
  if (showNames) {
    for (let j = 0; j < k; j++) {
      const x = m.left + j * cell + cell / 2 + 4;
      parts.push(
        `<text transform="translate(${x} ${m.top - 6}) rotate(-60)" text-anchor="start">${xmlEscape(classes[j] ?? String(j))}</text>`,
      );
    }
  }
  parts.push(`<text x="${m.left + (k * cell) / 2}" y="${H - 12}" text-anchor="middle" font-size="13">predicted class</text>`);
  parts.push(`<text transform="translate(14 ${m.top + (k * cell) / 2}) rotate(-90)" text-anchor="middle" font-size="13">true class</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
