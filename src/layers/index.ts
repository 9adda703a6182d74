/**
 * The blocks networks are built from, as graph-builder functions (`Sym → Sym`), usable on their
 * own to compose other networks the way the Keras tutorial composes Inception blocks with the
 * Keras functional API: the basic blocks (`basic.ts`), GoogLeNet's Inception module and
 * auxiliary classifier (`inception.ts`), Inception v3's modules A–E and its auxiliary classifier
 * (`inception-v3.ts`). Each name is chosen here and described in `docs/API.md`.
 */
export {
  conv2d,
  batchNorm,
  relu,
  basicConv,
  lrn,
  maxPool,
  avgPool,
  adaptiveAvgPool,
  globalAvgPool,
  globalMaxPool,
  flatten,
  dropout,
  linear,
  concat,
  type ConvOptions,
  type Norm,
  type Size2,
  type PoolOptions,
} from './basic.js';
export { inception, naiveInception, inceptionAux, type InceptionOptions, type InceptionChannels, type AuxOptions } from './inception.js';
export { inceptionA, inceptionB, inceptionC, inceptionD, inceptionE, inceptionV3Aux, type MixedOptions } from './inception-v3.js';
