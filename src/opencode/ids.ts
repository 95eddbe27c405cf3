import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
let lastMs = 0;
let counter = 0;

/** The 48-bit head of an OpenCode ascending id: `ms * 0x1000 + counter`. */
function headOf(id: string): bigint | undefined {
  const m = /^[a-z]+_([0-9a-f]{12})/.exec(id);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/**
 * A message id in OpenCode's own ascending format (`msg_` + 12 hex digits of
 * `ms * 0x1000 + counter` + 14 base62 characters), as OpenCode's own clients make them. OpenCode
 * keeps an id it is given, so a prompt sent with one can be found again after a crash. The id
 * must sort after the session's earlier messages and before the answer OpenCode is about to
 * write (OpenCode's prompt loop compares ids): it is made from this clock, but never earlier
 * than `after`'s time (a server whose clock is ahead of ours).
 *
 * @example
 * ```ts
 * await client.promptAsync({ sessionID, text, messageID: newMessageID(lastUserMessageID) });
 * ```
 */
export function newMessageID(after?: string): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    counter = 0;
  }
  counter++;
  let head = BigInt(ms) * 0x1000n + BigInt(counter);
  const floor = after ? headOf(after) : undefined;
  if (floor !== undefined && head <= floor) head = floor + 1n;
  const hex = (head & 0xffffffffffffn).toString(16).padStart(12, '0');
  let tail = '';
  for (const b of randomBytes(14)) tail += BASE62[b % 62];
  return `msg_${hex}${tail}`;
}
