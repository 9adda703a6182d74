/**
 * What both architectures end and start with, written once: torchvision's `transform_input` and
 * the classifier head (global average pool → dropout → fc), or, without the top, Keras' pooling.
 */
import { GraphBuilder, type Sym } from '../graph/builder.js';
import type { Graph, Shape } from '../graph/ir.js';
import { adaptiveAvgPool, dropout, flatten, globalMaxPool, linear } from '../layers/index.js';
import type { ModelConfig } from './config.js';

export interface BuildOptions {
  /** 'train' builds the auxiliary heads (when `auxLogits`) and keeps dropout; 'eval' never does. */
  mode: 'eval' | 'train';
}

/** torchvision's `transform_input`: x_c · (std_c / 0.5) + (mean_c − 0.5) / 0.5, ImageNet normalization undone into [-1, 1]. */
export function transformInput(x: Sym): Sym {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  return x.builder.add('transform_input', { op: 'affine', input: x.id, scale: std.map((s) => s / 0.5), shift: mean.map((m) => (m - 0.5) / 0.5) });
}

/** The head's values: the pooled features, and the logits (with the top) or Keras' pooled output (without). */
export interface HeadValues {
  /** N×C: the feature map averaged over space (tapped as `avg_pool`, Keras' name; GoogLeNet's `pool5` too). Absent without the top unless pooling 'avg'. */
  preLogits?: Sym;
  /** N×numClasses, with the top. */
  logits?: Sym;
  /** Without the top: N×C (pooling 'avg' or 'max') or the N×C×H×W map itself ('none'). */
  features?: Sym;
}

/**
 * The head on the feature map x (N×C×H×W), torchvision's `avgpool → flatten → dropout → fc`;
 * without the top (`includeTop: false`), the pooling Keras' `pooling` asks for instead.
 */
export function classifierHead(x: Sym, cfg: ModelConfig): HeadValues {
  const b = x.builder;
  const average = (): Sym => {
    // N×C×H×W → N×C×1×1 → N×C (global average pooling)
    const pooled = b.tap('avg_pool', flatten(adaptiveAvgPool(x, 'avgpool', 1), 'flatten'));
    return cfg.arch === 'googlenet' ? b.tap('pool5', pooled) : pooled; // the paper's name for it
  };
  if (!cfg.includeTop) {
    if (cfg.pooling === 'none') return { features: x };
    // N×C×H×W → N×C (global maximum)
    if (cfg.pooling === 'max') return { features: b.tap('max_pool', flatten(globalMaxPool(x, 'maxpool'), 'flatten')) };
    const preLogits = average();
    return { preLogits, features: preLogits };
  }
  const preLogits = average();
  // N×C → N×numClasses
  return { preLogits, logits: linear(dropout(preLogits, 'dropout', cfg.dropout), 'fc', { out: cfg.numClasses }) };
}

/** Declares the graph's outputs from its head: `logits` with the top, `features` without. */
export function headOutputs(b: GraphBuilder, h: HeadValues): void {
  if (h.logits) b.output('logits', h.logits);
  else b.output('features', h.features!);
}

/**
 * The head alone (`forwardHead`), as a graph whose input `feature_map` is the feature map of
 * `featureShape` (per sample, `[C, H, W]`). Outputs: `logits` and `avg_pool` (the pre-logits)
 * with the top; `features` without it (pooling 'avg' or 'max').
 */
export function buildHead(cfg: ModelConfig, featureShape: Shape): Graph {
  const b = new GraphBuilder();
  const h = classifierHead(b.input('feature_map', featureShape), cfg);
  headOutputs(b, h);
  if (h.logits) b.output('avg_pool', h.preLogits!);
  return b.build();
}
