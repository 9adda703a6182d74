/**
 * A small functional builder over the graph, in the style of the Keras functional API:
 *
 *   const b = new GraphBuilder();
 *   const x = b.input('input', [3, 224, 224]);
 *   const y = inception(basicConv(x, 'stem', { out: 192, kernel: 3, pad: 1 }), { name: 'a', ch1x1: 64, … });
 *   b.output('logits', linear(flatten(globalAvgPool(y)), 'fc', { out: 10 }));
 *   const graph = b.build();
 *
 * A `Sym` is a symbolic value: it knows its builder and its per-sample shape, so blocks are plain
 * functions `Sym → Sym`.
 */
import { OptionError } from '../errors.js';
import type { Graph, OpNode, ParamRole, ParamSpec, Shape } from './ir.js';
import { inferShape } from './ops/index.js';

export class Sym {
  constructor(
    readonly builder: GraphBuilder,
    readonly id: string,
    readonly shape: Shape,
  ) {}
  get channels(): number {
    return this.shape[0]!;
  }
}

type NodeBody<N> = N extends OpNode ? Omit<N, 'id' | 'scope'> : never;

export class GraphBuilder {
  private nodes: OpNode[] = [];
  private shapes = new Map<string, Shape>();
  private params = new Map<string, ParamSpec>();
  private outputs: Record<string, string> = {};
  private taps: Record<string, string> = {};
  private inputInfo?: { name: string; shape: Shape };

  input(name: string, shape: Shape): Sym {
    if (this.inputInfo) throw new OptionError('GraphBuilder: the graph already has an input', { option: 'name' });
    this.inputInfo = { name, shape };
    this.shapes.set(name, shape);
    return new Sym(this, name, shape);
  }

  /** Declares a parameter (idempotent for the same name and shape). */
  param(name: string, shape: readonly number[], role: ParamRole): string {
    const prev = this.params.get(name);
    if (prev && prev.shape.join() !== shape.join())
      throw new OptionError(`parameter ${name} declared twice with different shapes: [${prev.shape.join('×')}] and [${shape.join('×')}]`, {
        option: 'shape',
      });
    this.params.set(name, { name, shape: [...shape], role });
    return name;
  }

  /** Adds a node producing the value `scope` (made unique if taken); returns it. */
  add(scope: string, body: NodeBody<OpNode>): Sym {
    if (body.op === 'siblingconv')
      throw new OptionError(`${scope}: siblingconv nodes are made by the fusion pass (graph/fuse.ts), not by builders`, { option: 'op' });
    let id = scope;
    for (let k = 1; this.shapes.has(id); k++) id = `${scope}#${k}`;
    const node = { ...body, id, scope } as OpNode;
    const shape = inferShape(node, this.shapes);
    this.nodes.push(node);
    this.shapes.set(id, shape);
    return new Sym(this, id, shape);
  }

  output(name: string, x: Sym): void {
    this.outputs[name] = x.id;
  }

  tap(name: string, x: Sym): Sym {
    this.taps[name] = x.id;
    return x;
  }

  build(): Graph {
    if (!this.inputInfo) throw new OptionError('GraphBuilder: no input', { option: 'input' });
    return {
      input: this.inputInfo,
      nodes: [...this.nodes],
      shapes: new Map(this.shapes),
      params: new Map(this.params),
      outputs: { ...this.outputs },
      taps: { ...this.taps },
    };
  }
}
