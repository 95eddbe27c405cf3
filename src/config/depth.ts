import { formatPath } from './errors.js';

/**
 * Deepest nesting a config or request body may have. Real configs stay under 10 levels;
 * a limit checked before validation turns a hostile, deeply nested input into a clear
 * error instead of a stack overflow somewhere in a recursive walk.
 */
export const MAX_INPUT_DEPTH = 64;

/**
 * The path to the first place where `value` nests deeper than `max` levels of objects and
 * arrays, or undefined when it does not. Iterative: it cannot overflow the stack itself.
 *
 * @example
 * ```ts
 * findTooDeep({ a: [{ b: 1 }] }, 2); // ['a', 0]
 * findTooDeep({ a: 1 }); // undefined
 * ```
 */
export function findTooDeep(value: unknown, max = MAX_INPUT_DEPTH): PropertyKey[] | undefined {
  const stack: Array<{ v: unknown; path: PropertyKey[] }> = [{ v: value, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (path.length >= max) return path;
    if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, path: [...path, i] }));
    else for (const [k, x] of Object.entries(v)) stack.push({ v: x, path: [...path, k] });
  }
  return undefined;
}

/**
 * One line for an input nested too deep: the start of its path, then how deep is allowed.
 *
 * @example
 * ```ts
 * tooDeepMessage(['memory', 'a', 'a', 'a']); // 'memory.a.a.a: nested deeper than 64 levels'
 * ```
 */
export function tooDeepMessage(path: readonly PropertyKey[], max = MAX_INPUT_DEPTH): string {
  const shown = path.length > 8 ? `${formatPath(path.slice(0, 8))}…` : formatPath(path) || '(root)';
  return `${shown}: nested deeper than ${max} levels`;
}
