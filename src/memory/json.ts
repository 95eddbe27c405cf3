import { FlowError, FlowErrorCode } from '../errors.js';

/** A JSON value: what memory stores. Top-level `null` is not storable (see {@link MemoryBackend}). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Deepest nesting a stored value may have; deeper values are almost always a bug and risk stack overflows. */
export const MAX_JSON_DEPTH = 64;

/**
 * Serialises `value` as canonical JSON: object keys sorted, no whitespace. Two values that
 * are deeply equal serialise to the same string, which is how every backend compares values
 * for `cas`. Rejects anything that is not plain JSON (undefined, functions, NaN, Infinity,
 * bigint, class instances, cycles, nesting deeper than {@link MAX_JSON_DEPTH}).
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1, a: [true, 'x'] }) // '{"a":[true,"x"],"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return write(value, 0, '$');
}

function write(value: unknown, depth: number, path: string): string {
  if (depth > MAX_JSON_DEPTH) {
    throw notJson(path, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw notJson(path, `${value} is not a finite number`);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++) parts.push(write(value[i], depth + 1, `${path}[${i}]`));
        return `[${parts.join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw notJson(path, `is a ${(value as object).constructor?.name ?? 'non-plain'} object, not plain JSON`);
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      const parts: string[] = [];
      for (const k of keys) parts.push(`${JSON.stringify(k)}:${write(record[k], depth + 1, `${path}.${k}`)}`);
      return `{${parts.join(',')}}`;
    }
    default:
      throw notJson(path, `is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}`);
  }
}

function notJson(path: string, why: string): FlowError {
  return new FlowError(FlowErrorCode.Memory, `memory value is not JSON: ${path} ${why}`);
}
