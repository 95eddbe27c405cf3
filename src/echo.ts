/**
 * What an error message may echo of a user's input. Errors quote what was typed so a
 * mistake is easy to spot, but a quote must not leak a password, flood a terminal with a
 * megabyte, or let escape sequences in a key rewrite the terminal.
 */

/** Longest part of a user's value an error quotes, before `…`. */
export const ECHO_MAX_CHARS = 60;

// scheme://user:password@ — the authority runs to the first "/", "?", "#" or space, and ends
// at its last "@" (a password may hold an unescaped "@"), as the WHATWG URL parser reads it.
// The scheme is bounded so a long run of letters cannot make the search quadratic.
const USERINFO = /\b([a-z][a-z0-9+.-]{0,31}:\/\/)([^\s/?#@:]*):([^\s/?#]*)@/gi;

/**
 * Replaces the password of every `scheme://user:password@host` in `text` with `***`.
 *
 * @example
 * ```ts
 * maskPasswords('redis://u:hunter2@db:6379/0 is down'); // 'redis://u:***@db:6379/0 is down'
 * ```
 */
export function maskPasswords(text: string): string {
  return text.includes('://') ? text.replace(USERINFO, '$1$2:***@') : text;
}

// C0 and C1 controls, DEL, line/paragraph separators and bidirectional overrides: anything a
// terminal may act on instead of print.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text safe to print in one line of an error: passwords masked, cut to `max` characters
 * (default {@link ECHO_MAX_CHARS}) with `…`, control characters written as `\u001b`.
 *
 * @example
 * ```ts
 * printable('\u001b[31mred'); // '\\u001b[31mred'
 * printable('k'.repeat(1000)); // 'kkk…' (60 k's, then …)
 * ```
 */
export function printable(text: string, max = ECHO_MAX_CHARS): string {
  const masked = maskPasswords(text);
  // Cut on a code point, not inside a surrogate pair.
  const cut = masked.length > max ? `${masked.slice(0, max).replace(/[\ud800-\udbff]$/, '')}…` : masked;
  return cut.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Stands in for a secret (a token) where an error would quote the value: {@link quoteValue}
 * says a value was given without showing it.
 *
 * @example
 * ```ts
 * quoteValue(SECRET); // 'a value not shown (a secret)'
 * ```
 */
export const SECRET: unique symbol = Symbol('secret');

/**
 * A value as an error quotes it: JSON (so strings show their quotes) through
 * {@link printable}. Numbers JSON cannot write say what they are (`1e999` parses to
 * Infinity, which JSON would print as `null`). Never throws, however deep or cyclic the value.
 *
 * @example
 * ```ts
 * quoteValue('redis://u:pw@h/x'); // '"redis://u:***@h/x"'
 * quoteValue(Infinity); // 'a number too large (Infinity)'
 * ```
 */
export function quoteValue(value: unknown, max = ECHO_MAX_CHARS): string {
  if (value === undefined) return 'nothing';
  if (value === SECRET) return 'a value not shown (a secret)';
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return Number.isNaN(value) ? 'not a number (NaN)' : `a number too large (${value})`;
  }
  if (typeof value === 'bigint') return printable(`${value}n`, max);
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    // Too deep for JSON.stringify's recursion, or cyclic.
    s = Array.isArray(value) ? '[…]' : typeof value === 'object' && value !== null ? '{…}' : String(value);
  }
  return printable(s, max);
}
