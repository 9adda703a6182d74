/** A small canvas line chart: loss on the left axis, accuracy (0–100%) on the right, steps along x. */

export interface Series {
  color: string;
  /** [step, value] points. */
  points: [number, number][];
  axis: 'left' | 'right';
  width?: number;
  dots?: boolean;
  alpha?: number;
}

export function drawChart(canvas: HTMLCanvasElement, series: Series[], totalSteps: number): void {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(cssW * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const pad = { l: 48, r: 48, t: 12, b: 30 };
  const W = cssW - pad.l - pad.r;
  const H = cssH - pad.t - pad.b;
  const left = series.filter((s) => s.axis === 'left').flatMap((s) => s.points.map((p) => p[1]));
  const maxLoss = Math.max(0.5, Math.ceil(Math.max(...left, 0) * 1.1 * 2) / 2);
  const xMax = Math.max(totalSteps, 1);
  const X = (s: number): number => pad.l + (s / xMax) * W;
  const YL = (v: number): number => pad.t + H - (Math.min(v, maxLoss) / maxLoss) * H;
  const YR = (v: number): number => pad.t + H - v * H;

  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = '#e3e7ee';
  ctx.fillStyle = '#667085';
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (H * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.l, y);
    ctx.lineTo(pad.l + W, y);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText((maxLoss * (1 - i / 4)).toFixed(2), pad.l - 6, y + 4);
    ctx.textAlign = 'left';
    ctx.fillText(`${100 - 25 * i}%`, pad.l + W + 6, y + 4);
  }
  ctx.textAlign = 'center';
  for (let i = 0; i <= 4; i++) ctx.fillText(String(Math.round((xMax * i) / 4)), X((xMax * i) / 4), pad.t + H + 18);
  ctx.save();
  ctx.translate(12, pad.t + H / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('loss', 0, 0);
  ctx.restore();
  ctx.fillText('step', pad.l + W / 2, cssH - 2);

  for (const s of series) {
    if (!s.points.length) continue;
    const Y = s.axis === 'left' ? YL : YR;
    ctx.globalAlpha = s.alpha ?? 1;
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = s.width ?? 2;
    if (s.dots) {
      for (const [x, y] of s.points) {
        ctx.beginPath();
        ctx.arc(X(x), Y(y), 4, 0, Math.PI * 2);
        ctx.fill();
      }
    } else {
      ctx.beginPath();
      s.points.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }
}

/** Exponential moving average of a series (bias-corrected, as TensorBoard's smoothing). */
export function smooth(values: number[], beta = 0.9): number[] {
  let m = 0;
  return values.map((v, i) => {
    m = beta * m + (1 - beta) * v;
    return m / (1 - beta ** (i + 1));
  });
}
