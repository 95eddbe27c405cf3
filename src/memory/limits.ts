import { FlowError, FlowErrorCode } from '../errors.js';
import { canonicalJson } from './json.js';

/** Characters a key may use; `/` groups keys (`tasks/1`), never a file path. */
export const KEY_PATTERN = /^[A-Za-z0-9._:/-]{1,256}$/;
/** Characters a namespace may use (`flow:<id>`, `shared`); no `/`, so a namespace never looks like a path. */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** Default cap on one value's serialised size: 1 MiB. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;
/** Longest TTL accepted: 365 days. */
export const MAX_TTL_MS = 365 * 24 * 60 * 60 * 1000;

function memoryError(message: string): FlowError {
  return new FlowError(FlowErrorCode.Memory, message);
}

/**
 * Throws a `FlowError` (code `memory`) unless `key` is a valid memory key: 1-256 characters
 * of `A-Z a-z 0-9 . _ : / -`, with no empty, `.` or `..` segment between slashes.
 *
 * @example
 * ```ts
 * assertKey('research/summary') // ok
 * assertKey('../../etc/passwd') // throws FlowError memory
 * ```
 */
export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw memoryError(`invalid memory key ${describe(key)}: use 1-256 characters of A-Z a-z 0-9 . _ : / -`);
  }
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw memoryError(`invalid memory key ${describe(key)}: no empty, "." or ".." segments between slashes`);
    }
  }
}

/**
 * Throws unless `prefix` is a valid key prefix for `list`: like a key, but may be empty and
 * may end with `/`.
 *
 * @example
 * ```ts
 * assertPrefix('tasks/') // ok
 * ```
 */
export function assertPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || (prefix !== '' && !KEY_PATTERN.test(prefix))) {
    throw memoryError(`invalid memory key prefix ${describe(prefix)}: use 0-256 characters of A-Z a-z 0-9 . _ : / -`);
  }
  const segments = prefix.split('/');
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if ((segment === '' && !last && prefix !== '') || segment === '.' || segment === '..') {
      throw memoryError(`invalid memory key prefix ${describe(prefix)}: no empty, "." or ".." segments`);
    }
  });
}

/**
 * Throws unless `namespace` is valid: 1-128 characters of `A-Z a-z 0-9 . _ : -` and no `..`.
 *
 * @example
 * ```ts
 * assertNamespace('flow:abc') // ok
 * assertNamespace('flow:abc/..') // throws
 * ```
 */
export function assertNamespace(namespace: unknown): asserts namespace is string {
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace) || namespace.includes('..')) {
    throw memoryError(
      `invalid memory namespace ${describe(namespace)}: use 1-128 characters of A-Z a-z 0-9 . _ : - (e.g. "flow:<id>" or "shared")`,
    );
  }
}

/**
 * Validates and serialises a value to store: canonical JSON, not top-level `null` (that
 * means "absent"; use `delete`), at most `maxBytes` UTF-8 bytes.
 *
 * @example
 * ```ts
 * encodeValue('k', { a: 1 }, DEFAULT_MAX_VALUE_BYTES) // '{"a":1}'
 * ```
 */
export function encodeValue(key: string, value: unknown, maxBytes: number): string {
  if (value === null || value === undefined) {
    throw memoryError(
      `memory value for key ${describe(key)} is ${value === null ? 'null' : 'missing'}: store a JSON value, or delete the key`,
    );
  }
  const json = canonicalJson(value);
  // A quick upper bound first: UTF-8 takes at most 3 bytes per UTF-16 unit.
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > maxBytes) {
      throw memoryError(
        `memory value for key ${describe(key)} is ${bytes} bytes serialised; the limit is ${maxBytes} bytes (${formatBytes(maxBytes)}, maxValueBytes): store less, or split it over several keys`,
      );
    }
  }
  return json;
}

/**
 * Throws unless `ttlMs` is absent or a positive integer number of milliseconds up to {@link MAX_TTL_MS}.
 *
 * @example
 * ```ts
 * assertTtl(60_000) // ok
 * ```
 */
export function assertTtl(ttlMs: unknown): asserts ttlMs is number | undefined {
  if (ttlMs === undefined) return;
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
    throw memoryError(`invalid memory ttlMs ${describe(ttlMs)}: use a positive integer of milliseconds up to 365 days`);
  }
}

/**
 * Throws unless `amount` is a finite number (the step of `incr`).
 *
 * @example
 * ```ts
 * assertAmount(1) // ok
 * ```
 */
export function assertAmount(amount: unknown): asserts amount is number {
  if (typeof amount !== 'number' || !Number.isFinite(amount)) {
    throw memoryError(`invalid incr amount ${describe(amount)}: use a finite number`);
  }
}

/**
 * Throws unless `maxBytes` is a positive integer.
 *
 * @example
 * ```ts
 * assertMaxValueBytes(1024) // ok
 * ```
 */
export function assertMaxValueBytes(maxBytes: unknown): asserts maxBytes is number {
  if (typeof maxBytes !== 'number' || !Number.isInteger(maxBytes) || maxBytes <= 0) {
    throw memoryError(`invalid maxValueBytes ${describe(maxBytes)}: use a positive integer`);
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  return v === undefined ? 'undefined' : typeof v === 'object' ? (v === null ? 'null' : typeof v) : String(v);
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(2)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
