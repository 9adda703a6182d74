/**
 * The page's state, also exposed as `window.demo` so that the browser tests (and the curious)
 * can read what the page computed: logits, losses, the backend.
 */
import type { BackendInfo, EvalReport, ModelConfig, Prediction } from '../../src/web/index.js';

interface Classification {
  logits: number[];
  top: Prediction[];
  width: number;
  height: number;
  originalWidth: number;
  originalHeight: number;
  downscaled: boolean;
  ms: { decode: number; preprocess: number; inference: number; total: number };
  model: string;
}

/** The Classify view's last explanation (Grad-CAM and branch shares), for the tests. */
interface ExplanationState {
  classIndex: number;
  label: string;
  probability: number;
  layer: string;
  /** The raw Grad-CAM map, row-major, and its size. */
  cam: number[];
  camWidth: number;
  camHeight: number;
  /** Where the overlay was drawn on the preview canvas (absent when Grad-CAM is off). */
  overlay?: { x: number; y: number; width: number; height: number };
  branches?: { module: string; names: string[]; shares: number[] };
  /** The one explain pass (forward and the gradient to the tap). */
  ms: number;
}

export interface DemoState {
  /** Resolves once the backend is chosen (or has failed). */
  ready: Promise<void>;
  backend?: BackendInfo;
  backendError?: string;
  model?: { url: string; name: string; trained: boolean; config: ModelConfig; params: number };
  /** Increments whenever a model finished loading (or failed). */
  modelLoads: number;
  /** The (loaded, total) progress reports of the last model load. */
  modelProgress: [number, number][];
  classifications: number;
  lastClassification?: Classification;
  lastExplanation?: ExplanationState;
  /** The Architecture view's last module click. */
  lastBranches?: { module: string; names: string[]; shares: number[]; ms: number };
  train: { losses: number[]; accuracies: number[]; steps: number; running: boolean; evals: EvalReport[] };
}

let resolveReady!: () => void;
export const demo: DemoState = {
  ready: new Promise<void>((r) => (resolveReady = r)),
  modelLoads: 0,
  modelProgress: [],
  classifications: 0,
  train: { losses: [], accuracies: [], steps: 0, running: false, evals: [] },
};
export const markReady = (): void => resolveReady();

(window as unknown as { demo: DemoState }).demo = demo;

/** The backend's label, plus a note when the last graph fell back from WebGPU to WebAssembly. */
export function backendLabel(): string {
  const b = demo.backend;
  if (!b) return 'no backend';
  return b.sessionFallback ? `${b.label} — this graph ${b.sessionFallback}` : b.label;
}
