/**
 * The model's compiled sessions: one per mode (eval, features, head, train, …), created on first
 * use and reused, each recording which weights it holds as constants, so that a change to some
 * weights replaces only the sessions that baked them.
 */
import { InternalError } from '../errors.js';
import { lowerForward } from '../graph/autodiff.js';
import type { Graph, ParamSpec } from '../graph/ir.js';
import { OnnxGraphBuilder } from '../graph/onnx.js';
import type { Engine, Session, SessionOptions } from '../runtime/engine.js';

interface Entry {
  session: Promise<Session>;
  /** Weights compiled into the session as constants (a change to any of them makes it stale). */
  baked: ReadonlySet<string>;
  /** Callers holding it (see `hold`): `trim` leaves it alone while there are any. */
  holders: number;
}

export class SessionCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly engine: Engine,
    private readonly options: SessionOptions,
  ) {}

  /** Sessions held now. */
  get size(): number {
    return this.entries.size;
  }

  /** The session of `key`, compiled from `make()` on first use. */
  get(key: string, make: () => { bytes: Uint8Array; baked: Iterable<string> }): Promise<Session> {
    let e = this.entries.get(key);
    if (e) {
      // Most recently used last (see `trim`).
      this.entries.delete(key);
      this.entries.set(key, e);
    } else {
      const { bytes, baked } = make();
      e = { session: this.engine.createSession(bytes, this.options), baked: new Set(baked), holders: 0 };
      this.entries.set(key, e);
    }
    return e.session;
  }

  /**
   * The session of `key` (see `get`), held until `done()`: `trim` does not release a session while
   * a caller runs it. Call `done()` once, when the run has settled.
   */
  hold(key: string, make: () => { bytes: Uint8Array; baked: Iterable<string> }): { session: Promise<Session>; done(): void } {
    const session = this.get(key, make);
    const e = this.entries.get(key)!;
    e.holders++;
    return { session, done: () => void e.holders-- };
  }

  /**
   * Keeps at most `keep` of the sessions whose key starts with `prefix`, the most recently used:
   * the others are dropped and released (without waiting), except those held (see `hold`), which
   * a later trim drops. For families of sessions that a caller can ask for without bound (one
   * Grad-CAM graph per tap, head and method), each holding its own copy of the weights.
   */
  trim(prefix: string, keep: number): void {
    const keys = [...this.entries.keys()].filter((k) => k.startsWith(prefix));
    let excess = keys.length - keep;
    for (const key of keys) {
      if (excess <= 0) break;
      const e = this.entries.get(key)!;
      if (e.holders > 0) continue;
      this.entries.delete(key);
      excess--;
      void e.session.then((s) => s.release()).catch(() => undefined);
    }
  }

  /**
   * Drops (and releases, without waiting) the sessions that baked any of `names`, or every
   * session that baked any weight when `names` is omitted. Sessions fed their weights stay.
   */
  invalidate(names?: Iterable<string>): void {
    const changed = names ? new Set(names) : undefined;
    for (const [key, e] of this.entries) {
      const stale = changed ? [...e.baked].some((n) => changed.has(n)) : e.baked.size > 0;
      if (!stale) continue;
      this.entries.delete(key);
      void e.session.then((s) => s.release()).catch(() => undefined);
    }
  }

  /** Releases every session (weights-fed ones too). */
  async clear(): Promise<void> {
    const old = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(old.map(async (e) => (await e.session).release()));
  }
}

export interface TrainForwardModel {
  bytes: Uint8Array;
  /** The parameters the graph reads, each a graph input of the same name (PyTorch layout). */
  fed: ParamSpec[];
}

/**
 * The train-mode forward pass (batch statistics, live dropout, aux heads) with every weight a
 * graph input, so one session serves whatever the weights become. Outputs: the graph's outputs
 * (`logits`, `aux1`, `aux2`), then the updated running statistics `running_mean.<bn>` /
 * `running_var.<bn>` (PyTorch's momentum rule).
 *
 * Lowered through `lowerForward`, the graph package's one lowering that takes parameters from the
 * caller, with the max-pool lowering that emits no argmax indices (nothing here differentiates, and
 * WebGPU has no `Indices` output).
 */
export function lowerTrainForward(g: Graph): TrainForwardModel {
  const b = new OnnxGraphBuilder('googlenet-train-forward');
  b.input({ name: g.input.name, dtype: 'float32', dims: ['N', ...g.input.shape] });
  const fed = new Map<string, ParamSpec>();
  const param = (name: string): string => {
    if (!fed.has(name)) {
      const spec = g.params.get(name);
      if (!spec) throw new InternalError(`train forward: the graph reads parameter ${name}, which it does not declare`);
      b.input({ name, dtype: 'float32', dims: [...spec.shape] });
      fed.set(name, spec);
    }
    return name;
  };
  const fwd = lowerForward({ b, graph: g, param, lowering: { maxPoolGrad: 'masks' } }); // unfused: sibling fusion is a separate pass (graph/fuse.ts) for training steps
  for (const [name, value] of Object.entries(g.outputs)) {
    if (name !== value) b.node('Identity', [value], [name]);
    b.output({ name, dtype: 'float32', dims: ['N', ...g.shapes.get(value)!] });
  }
  for (const s of fwd.side) {
    b.node('Identity', [fwd.sideValues.get(s.name)!], [s.name]);
    b.output(s);
  }
  return { bytes: b.encode(), fed: [...fed.values()] };
}
