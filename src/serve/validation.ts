/**
 * Query strings and JSON bodies are checked by fastify against each route's JSON schema (Ajv, the
 * way fastify validates). A failed check is answered in one line written from the schema itself:
 * every node a message may name carries a `title` (what it is called) and a `description` (what
 * it must be), and the answer names the nearest such node above the value that failed:
 * `datatype must be "FP32", received "INT8"`. So the check and its words are one declaration.
 * Platform-free.
 */
import { describeValue } from '../errors.js';

/** The part of JSON Schema (draft-07, fastify's default) the routes use, with the annotations messages are made of. */
export interface JsonSchema {
  /** How a message names the value: `shape`, `"inputs"`, `top_k`. */
  title?: string;
  /** What the value must be, completing "… must be": `an integer from 1 to 10`. */
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema | JsonSchema[];
  additionalItems?: boolean;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  const?: unknown;
}

/** One failure as Ajv reports it (fastify passes them on as `error.validation`). */
export interface SchemaFailure {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** The value at a JSON pointer's segments. */
function valueAt(data: unknown, path: readonly string[]): unknown {
  let v = data;
  for (const seg of path) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[seg] : undefined;
  return v;
}

/**
 * The titled schema node nearest above a failure, and the instance path of the value it names.
 * A missing property is named by its own node (`datatype must be "FP32", received undefined`).
 */
function namedNode(schema: JsonSchema, f: SchemaFailure): { node: JsonSchema; path: string[] } {
  const segments = f.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (f.keyword === 'required' && typeof f.params.missingProperty === 'string') segments.push(f.params.missingProperty);
  const chain: { node: JsonSchema; depth: number }[] = [{ node: schema, depth: 0 }];
  let node: JsonSchema | undefined = schema;
  for (const [i, seg] of segments.entries()) {
    node = node.properties?.[seg] ?? (Array.isArray(node.items) ? node.items[Number(seg)] : node.items);
    if (!node) break;
    chain.push({ node, depth: i + 1 });
  }
  const named = chain.reverse().find((c) => c.node.title !== undefined && c.node.description !== undefined) ?? chain.at(-1)!;
  return { node: named.node, path: segments.slice(0, named.depth) };
}

/** How a message shows what was received: `[1, 3, 16, 16]` for a short list of numbers, else as everywhere. */
function received(v: unknown): string {
  if (Array.isArray(v) && v.length <= 8 && v.every((x) => typeof x === 'number')) return `[${v.join(', ')}]`;
  return describeValue(v);
}

/**
 * One line for a failed check of `data` against `schema`: "`title` must be `description`, received
 * …". `raw` gives the value as the client sent it when `data` holds it converted (a query string's
 * `"0"`, which fastify has already turned into the number 0).
 */
export function validationMessage(schema: JsonSchema, f: SchemaFailure, data: unknown, raw?: (path: readonly string[]) => unknown): string {
  const { node, path } = namedNode(schema, f);
  const value = raw ? raw(path) : valueAt(data, path);
  return `${node.title ?? 'the request'} must be ${node.description ?? 'valid'}, received ${received(value)}`;
}
