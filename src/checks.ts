/**
 * The checks options are declared with, on valibot (docs/LIBRARIES.md says why valibot): each
 * helper builds a schema whose every failure says what the value should be ("an integer ≥ 1",
 * "a number in [0, 1)"), from the same arguments as the test itself, so a check and the words of
 * its error cannot drift apart. `v.InferOutput` of a schema is the option's TypeScript type.
 *
 *   checkOption(int(1), 0, 'batchSize')  // OptionError "batchSize: expected an integer ≥ 1, received 0"
 */
import * as v from 'valibot';
import { describeValue, OptionError } from './errors.js';

/** A checked value of type `T`: a valibot schema whose issue messages are what it expects. */
export type Check<T> = v.GenericSchema<T>;

/** An integer in [min, max]: "an integer ≥ 1", "an integer in [8, 4096]". */
export function int(min = 0, max = Number.MAX_SAFE_INTEGER, expected?: string): Check<number> {
  const e = expected ?? (max >= Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`);
  return v.pipe(v.number(e), v.safeInteger(e), v.minValue(min, e), v.maxValue(max, e));
}

/** Bounds of a number: `gt`/`ge` below, `lt`/`le` above; none means unbounded. */
export interface Range {
  gt?: number;
  ge?: number;
  lt?: number;
  le?: number;
}

function describeRange(r: Range): string {
  const lo = r.gt ?? r.ge;
  const hi = r.lt ?? r.le;
  if (r.gt === 0 && hi === undefined) return 'a positive number';
  if (hi === undefined) return lo === undefined ? 'a finite number' : `a finite number ${r.gt !== undefined ? '>' : '≥'} ${lo}`;
  return `a number in ${r.gt !== undefined ? '(' : '['}${lo ?? '-∞'}, ${hi}${r.lt !== undefined ? ')' : ']'}`;
}

/** A finite number within `range`: "a positive number", "a finite number ≥ 0", "a number in [0, 1)". */
export function num(range: Range = {}, expected = describeRange(range)): Check<number> {
  const e = expected;
  const bounds: v.PipeItem<number, number, v.BaseIssue<unknown>>[] = [];
  if (range.gt !== undefined) bounds.push(v.gtValue(range.gt, e));
  if (range.ge !== undefined) bounds.push(v.minValue(range.ge, e));
  if (range.lt !== undefined) bounds.push(v.ltValue(range.lt, e));
  if (range.le !== undefined) bounds.push(v.maxValue(range.le, e));
  return v.pipe(v.number(e), v.finite(e), ...bounds);
}

/** One of `choices`: "one of adam, adamw, sgd". */
export function oneOf<const T extends readonly (string | number)[]>(
  choices: T,
  expected = `one of ${choices.join(', ')}`,
): Check<T[number]> {
  return v.picklist(choices, expected) as unknown as Check<T[number]>;
}

/** A boolean. */
export const bool: Check<boolean> = v.boolean('a boolean');

/** A non-empty string ("a folder", "a model directory, file, URL or name"). */
export function text(expected = 'a non-empty string'): Check<string> {
  return v.pipe(v.string(expected), v.minLength(1, expected));
}

/** How an error message shows a value received: `0`, `NaN`, `"imagenet"`, `true`, `null`, `an object`. */
export function shown(x: unknown): string {
  if (typeof x === 'number') return String(x);
  if (typeof x === 'object' && x !== null) return describeValue(x);
  return JSON.stringify(x) ?? describeValue(x);
}

/** The first failure of `schema` on `value`, as `{ path, expected, received }`, or null. */
export function firstIssue(schema: v.GenericSchema, value: unknown): { path: string; expected: string; received: unknown } | null {
  const r = v.safeParse(schema, value, { abortEarly: true });
  if (r.success) return null;
  const issue = r.issues[0];
  return { path: v.getDotPath(issue) ?? '', expected: issue.message, received: issue.input };
}

/**
 * Checks one option's value against its schema.
 * @throws OptionError "`name`: expected …, received …", with `option` set to `name`.
 */
export function checkOption<T>(schema: Check<T>, value: unknown, name: string): T {
  const issue = firstIssue(schema, value);
  if (issue) throw new OptionError(`${name}: expected ${issue.expected}, received ${shown(issue.received)}`, { option: name });
  return value as T;
}

/** Whether `check` takes numbers (a number, or a choice among numbers such as `1 | 3`). */
function takesNumbers(check: v.GenericSchema): boolean {
  const s = check as { type?: string; options?: readonly unknown[] };
  return s.type === 'number' || (s.type === 'picklist' && !!s.options?.every((o) => typeof o === 'number'));
}

/**
 * An option given as text (a CLI flag's value), converted to what its check takes (a number for
 * numeric checks; empty text is no number) and checked: `{ value }`, or `{ expected }` in words.
 */
export function parseOptionText<T>(check: Check<T>, raw: string): { value: T } | { expected: string } {
  const value = takesNumbers(check) ? (raw.trim() === '' ? NaN : Number(raw)) : raw;
  const issue = firstIssue(check, value);
  return issue ? { expected: issue.expected } : { value: value as T };
}

/** The check builders options are declared with, for programs (the CLI) that declare their own. */
export const OPTION_CHECKS = { int, num, oneOf, bool, text } as const;
