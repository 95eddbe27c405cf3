/**
 * Each long string of a snapshot stored once. A run's snapshot holds its agents' specs in the
 * supervisor's context (`agents`, `workers`) and again in each child's: in memory they are
 * the same strings, but JSON writes each copy out (a 900 KB inline prompt was 2.7 MB a
 * snapshot). A packed snapshot keeps every string of {@link PACK_MIN_LENGTH} characters or
 * more that occurs twice or more in a table, once, and a short reference where it was.
 * Every store packs on save and unpacks on load; a snapshot with nothing to share is stored
 * as it is, and one stored before packing existed loads as it was.
 */

/** The key of a packed snapshot's wrapper: `{ "ocf:packed": 1, strings, value }`. */
const PACKED = 'ocf:packed';
/** A reference to the table: this prefix (a NUL first, which no prompt starts with) and the index. */
const REF = '\u0000ocf:';
/** Strings shorter than this are left where they are (a reference would save little). */
export const PACK_MIN_LENGTH = 1024;

interface Packed {
  [PACKED]: 1;
  strings: string[];
  value: unknown;
}

function visitStrings(value: unknown, on: (s: string) => void): void {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') on(v);
    else if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (v && typeof v === 'object') for (const k in v) stack.push((v as Record<string, unknown>)[k]);
  }
}

function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((x) => mapStrings(x, f));
  if (value && typeof value === 'object') {
    // As JSON would: a value with toJSON (a Date) is what toJSON gives.
    const json = (value as { toJSON?: unknown }).toJSON;
    if (typeof json === 'function') return mapStrings(json.call(value), f);
    const out: Record<string, unknown> = {};
    for (const k in value) {
      const x = (value as Record<string, unknown>)[k];
      // What JSON would drop (undefined, functions) stays dropped.
      if (x !== undefined && typeof x !== 'function') out[k] = mapStrings(x, f);
    }
    return out;
  }
  return value;
}

/**
 * The snapshot with each long string that repeats stored once (a string that happens to
 * start like a reference is put in the table too, so unpacking is never ambiguous).
 *
 * @example
 * ```ts
 * const big = 'x'.repeat(5000);
 * packSnapshot({ a: big, b: [big] }); // { 'ocf:packed': 1, strings: [big], value: { a: '\0ocf:0', b: ['\0ocf:0'] } }
 * ```
 */
export function packSnapshot(snapshot: unknown): unknown {
  const seen = new Map<string, number>();
  visitStrings(snapshot, (s) => {
    if (s.length >= PACK_MIN_LENGTH || s.startsWith(REF)) seen.set(s, (seen.get(s) ?? 0) + 1);
  });
  const index = new Map<string, number>();
  const strings: string[] = [];
  for (const [s, n] of seen)
    if (n > 1 || s.startsWith(REF)) {
      index.set(s, strings.length);
      strings.push(s);
    }
  if (strings.length === 0) return snapshot;
  return {
    [PACKED]: 1,
    strings,
    value: mapStrings(snapshot, (s) => {
      const i = index.get(s);
      return i === undefined ? s : `${REF}${i}`;
    }),
  } satisfies Packed;
}

const isPacked = (v: unknown): v is Packed =>
  typeof v === 'object' &&
  v !== null &&
  (v as Record<string, unknown>)[PACKED] === 1 &&
  Array.isArray((v as Packed).strings) &&
  'value' in v;

/** The snapshot as it was before {@link packSnapshot}; anything else as it is. */
export function unpackSnapshot(stored: unknown): unknown {
  if (!isPacked(stored)) return stored;
  const { strings } = stored;
  return mapStrings(stored.value, (s) => {
    if (!s.startsWith(REF)) return s;
    const hit = strings[Number(s.slice(REF.length))];
    return hit ?? s;
  });
}
