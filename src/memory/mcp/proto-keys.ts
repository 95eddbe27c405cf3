import { ErrorCode, type JSONRPCErrorResponse } from '@modelcontextprotocol/sdk/types.js';
import { printable } from '../../echo.js';

/**
 * The path of the first own `"__proto__"` key in a parsed JSON value (`arguments.value.__proto__`),
 * or undefined. `JSON.parse` keeps such a key as a plain property, but the MCP SDK's schema
 * checks copy objects by assignment, which drops it: a tool would run on arguments other
 * than the ones sent. Iterative, so no nesting can overflow the stack.
 *
 * @example
 * ```ts
 * findProtoKey(JSON.parse('{"arguments":{"key":"k","__proto__":{"shared":true}}}')); // 'arguments.__proto__'
 * ```
 */
export function findProtoKey(value: unknown): string | undefined {
  const stack: Array<{ v: unknown; path: string }> = [{ v: value, path: '' }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}[${i}]` });
      continue;
    }
    if (Object.hasOwn(v, '__proto__')) return path ? `${path}.__proto__` : '__proto__';
    const entries = Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, x] = entries[i]!;
      stack.push({ v: x, path: path ? `${path}.${printable(k)}` : printable(k) });
    }
  }
  return undefined;
}

/**
 * The answers that refuse a JSON-RPC message (or batch) whose `params` hold an own
 * `"__proto__"` key: one `Invalid params` error per request in it, none for notifications.
 * Undefined when the message is clean and may go on to the server. A batch is refused
 * whole, so nothing in it runs.
 *
 * @example
 * ```ts
 * const refusal = refuseProtoKeys(body);
 * if (refusal) return reply(refusal.errors); // the store is untouched
 * ```
 */
export function refuseProtoKeys(message: unknown): { errors: JSONRPCErrorResponse[]; reason: string } | undefined {
  const messages = Array.isArray(message) ? (message as unknown[]) : [message];
  let reason: string | undefined;
  for (const m of messages) {
    if (m === null || typeof m !== 'object') continue;
    const where = findProtoKey((m as { params?: unknown }).params);
    if (where !== undefined) {
      reason = `Invalid params: ${where}: a "__proto__" key is not allowed (it would be dropped, not stored)`;
      break;
    }
  }
  if (reason === undefined) return undefined;
  const errors = messages.flatMap((m): JSONRPCErrorResponse[] => {
    const id = m !== null && typeof m === 'object' && 'method' in m ? (m as { id?: unknown }).id : undefined;
    return typeof id === 'string' || typeof id === 'number'
      ? [{ jsonrpc: '2.0', id, error: { code: ErrorCode.InvalidParams, message: reason } }]
      : [];
  });
  return { errors, reason };
}
