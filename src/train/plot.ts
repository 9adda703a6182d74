/**
 * The training curves: after every epoch the trainer writes `loss.svg`/`loss.png` (training loss
 * per logging window and per epoch, validation loss) and `accuracy.svg`/`accuracy.png` (training
 * accuracy, validation top-1, EMA top-1) — the CIFAR-10 tutorial's `plt.plot(loss_arr)`, kept up
 * to date. Drawn with `../plot/chart.ts`; `plot-node.ts` writes the files.
 */
import { lineChartSvg, type Series } from '../plot/chart.js';
import type { EpochRecord, MetricsRecord, StepRecord } from './metrics.js';

/** The loss and accuracy charts of a run's metrics (x in epochs). */
export function trainingCharts(records: readonly MetricsRecord[], stepsPerEpoch: number, title = ''): { loss: string; accuracy: string } {
  const steps = records.filter((r): r is StepRecord => r.type === 'step');
  const epochs = records.filter((r): r is EpochRecord => r.type === 'epoch');
  const ex = (r: EpochRecord): number => r.epoch + 1;
  const sx = (r: StepRecord): number => r.step / stepsPerEpoch;
  const prefix = title ? `${title}: ` : '';
  const lossSeries: Series[] = [
    { name: 'train loss (window)', points: steps.map((r) => [sx(r), r.loss]), color: '#9ecae1' },
    { name: 'train loss (epoch)', points: epochs.map((r) => [ex(r), r.loss]), color: '#1f77b4', markers: true },
  ];
  if (epochs.some((r) => r.valLoss !== null && Number.isFinite(r.valLoss))) {
    lossSeries.push({ name: 'validation loss', points: epochs.map((r) => [ex(r), r.valLoss ?? NaN]), color: '#ff7f0e', markers: true });
  }
  const accSeries: Series[] = [
    { name: 'train accuracy', points: epochs.map((r) => [ex(r), 100 * r.acc]), color: '#1f77b4', markers: true },
  ];
  if (epochs.some((r) => r.top1 !== null))
    accSeries.push({
      name: 'validation top-1',
      points: epochs.map((r) => [ex(r), 100 * (r.top1 ?? NaN)]),
      color: '#2ca02c',
      markers: true,
    });
  if (epochs.some((r) => r.emaTop1 !== undefined && r.emaTop1 !== null)) {
    accSeries.push({
      name: 'EMA validation top-1',
      points: epochs.map((r) => [ex(r), 100 * (r.emaTop1 ?? NaN)]),
      color: '#d62728',
      markers: true,
      dashed: true,
    });
  }
  if (accSeries.every((s) => s.points.length === 0))
    accSeries[0] = { name: 'train accuracy (window)', points: steps.map((r) => [sx(r), 100 * r.acc]), color: '#1f77b4' };
  // Early validation losses can be huge (batch-norm statistics still settling); keep the training curve readable.
  const trainMax = Math.max(
    ...lossSeries
      .slice(0, 2)
      .flatMap((x) => x.points.map((p) => p[1]))
      .filter(Number.isFinite),
  );
  const valMax = Math.max(...(lossSeries[2]?.points.map((p) => p[1]).filter(Number.isFinite) ?? []));
  const yMax = Number.isFinite(trainMax) && valMax > 1.5 * trainMax ? 1.5 * trainMax : undefined;
  return {
    loss: lineChartSvg(lossSeries, {
      title: `${prefix}loss${yMax !== undefined ? ' (validation clipped)' : ''}`,
      xLabel: 'epoch',
      yLabel: 'cross-entropy loss',
      yMin: 0,
      ...(yMax !== undefined ? { yMax } : {}),
    }),
    accuracy: lineChartSvg(accSeries, { title: `${prefix}accuracy`, xLabel: 'epoch', yLabel: 'accuracy (%)' }),
  };
}
