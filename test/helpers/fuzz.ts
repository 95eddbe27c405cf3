/**
 * Deterministic input generators for fuzz tests: a seeded PRNG (mulberry32) and hostile
 * JSON values and texts built from it. Same seed, same inputs: a failure names its seed
 * and case number, and `FUZZ_SEED=<seed>` replays it.
 */

/** The seed of this run: `FUZZ_SEED` when set, else a fixed one. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_f10);

/** A small seeded PRNG; `next()` is uniform in [0, 1). */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Strings a hostile user or a broken tool may send. */
const NASTY_STRINGS = [
  '',
  ' ',
  'x',
  '\u001b[31mred\u001b[0m',
  '\u001b]0;title\u0007',
  '\u009b2J',
  '\u202eevil',
  'line\nbreak',
  '\u0000nul',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'redis://u:PW@host:6379/0',
  'http://u:PW@127.0.0.1:1',
  'sqlite:',
  'file:',
  'a/b',
  'anthropic/claude-sonnet-4',
  'reviewer',
  'coder',
  '😀',
  '\ud800',
  '../../etc/passwd',
  '%s%n',
  '${process.exit(1)}',
  'parallel',
  'sequential',
  'cost',
];

const NASTY_NUMBERS = [
  0,
  -0,
  -1,
  1,
  1.5,
  0.1,
  2 ** 31,
  2 ** 53 + 2,
  -(2 ** 63),
  1e308,
  -1e308,
  5e-324,
  65536,
  1000,
  100_000,
];

/** A random string: a nasty one, random code units, or (rarely) a long one. */
export function randomString(rng: Rng): string {
  const r = rng.next();
  if (r < 0.5) return rng.pick(NASTY_STRINGS);
  if (r < 0.95) {
    let s = '';
    const n = rng.int(12);
    for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.7) ? 0x20 + rng.int(95) : rng.int(0x3000));
    return s;
  }
  return rng.pick(['k', 'é', '\u001b']).repeat(1000 + rng.int(20_000));
}

/** A random JSON value, at most `depth` levels deep, with hostile keys and values. */
export function randomJson(rng: Rng, depth = 4): unknown {
  const r = rng.next();
  if (depth <= 0 || r < 0.45) {
    const leaf = rng.int(5);
    if (leaf === 0) return randomString(rng);
    if (leaf === 1) return rng.pick(NASTY_NUMBERS);
    if (leaf === 2) return rng.chance(0.5);
    if (leaf === 3) return null;
    return rng.next() * 10 ** rng.int(6);
  }
  if (r < 0.7) return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth - 1));
  const o: Record<string, unknown> = {};
  for (let i = rng.int(5); i > 0; i--) {
    // defineProperty: an own "__proto__" key, as JSON.parse would make it.
    Object.defineProperty(o, randomString(rng), {
      value: randomJson(rng, depth - 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return o;
}

/** Paths of every value inside `v` (objects and arrays), root included. */
function paths(v: unknown, at: PropertyKey[] = [], out: PropertyKey[][] = []): PropertyKey[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/**
 * A copy of a valid input with one to three hostile edits: a value replaced, a key added
 * or removed, a level wrapped in an array or object.
 */
export function mutate(rng: Rng, valid: unknown): unknown {
  const root = structuredClone(valid) as unknown;
  let doc: unknown = root;
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const all = paths(doc);
    const path = rng.pick(all);
    const parentPath = path.slice(0, -1);
    const last = path[path.length - 1];
    const parent = parentPath.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown>)[k], doc) as
      Record<PropertyKey, unknown> | undefined;
    const current = path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown>)[k], doc);
    const edit = rng.int(5);
    const replacement =
      edit === 0
        ? randomJson(rng, 2)
        : edit === 1
          ? [current]
          : edit === 2
            ? { value: current }
            : edit === 3
              ? randomString(rng)
              : rng.pick(NASTY_NUMBERS);
    if (edit === 4 && current && typeof current === 'object' && !Array.isArray(current)) {
      Object.defineProperty(current, randomString(rng), {
        value: randomJson(rng, 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      continue;
    }
    if (last === undefined || !parent) doc = replacement;
    else if (rng.chance(0.15) && !Array.isArray(parent)) delete parent[last];
    else parent[last] = replacement;
  }
  return doc;
}

/** JSON text with a hostile twist: cut short, a stray byte, a BOM, a huge exponent, deep nesting. */
export function mutateText(rng: Rng, text: string): string {
  const at = rng.int(text.length + 1);
  switch (rng.int(8)) {
    case 0:
      return text.slice(0, at);
    case 1:
      return (
        text.slice(0, at) +
        rng.pick(['{', '}', '[', ']', ',', ':', '"', '\\', '\u0000', '\u001b', 'x', "'"]) +
        text.slice(at)
      );
    case 2:
      return `\uFEFF${text}`;
    case 3:
      return text.replace(
        /\d+(\.\d+)?/,
        rng.pick(['1e999', '-1e999', '1e-999', '9'.repeat(400), '0x10', 'NaN', 'Infinity']),
      );
    case 4: {
      const depth = 60 + rng.int(3000);
      return text.replace(/^\s*\{/, `{"nest":${'['.repeat(depth)}${']'.repeat(depth)},`);
    }
    case 5:
      return text.replace(/"(\w+)":/, (_m, k: string) => `"${k}":1,"${k}":`); // a duplicate key
    case 6:
      return `${text}${rng.pick(['\n}', ' // comment', ',', 'garbage'])}`;
    default:
      return text.replace(/,/g, ',\n').slice(0, Math.max(1, at));
  }
}

/** A user-facing message shows no stack trace. */
export const STACK_TRACE = /\n\s+at .+(:\d+:\d+|\(native\)|<anonymous>)/;
/** Characters a terminal would act on instead of printing (tab and newline allowed). */
export const TERMINAL_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
