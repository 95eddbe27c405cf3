import { FlowError, FlowErrorCode } from '../errors.js';
import { assertKey, assertPrefix } from './limits.js';

/**
 * Compiles a watch pattern into a key test: an exact key (`'plan'`), or a prefix ending in `*`
 * (`'tasks/*'`, `'*'` for all). Throws a `FlowError` (`memory`) on a malformed pattern.
 *
 * @example
 * ```ts
 * const matches = compileWatchPattern('tasks/*');
 * matches('tasks/1') // true
 * matches('plan')    // false
 * ```
 */
export function compileWatchPattern(pattern: string): (key: string) => boolean {
  if (typeof pattern !== 'string') {
    throw new FlowError(FlowErrorCode.Memory, 'a memory watch pattern must be a string');
  }
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    if (prefix.includes('*')) {
      throw new FlowError(
        FlowErrorCode.Memory,
        `invalid memory watch pattern ${JSON.stringify(pattern)}: only one trailing *`,
      );
    }
    assertPrefix(prefix);
    return (key) => key.startsWith(prefix);
  }
  assertKey(pattern);
  return (key) => key === pattern;
}
