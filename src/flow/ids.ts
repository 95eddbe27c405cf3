import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** A flow id: what names a run in the store, in events, in memory (`flow:<id>`) and in URLs. */
export const FlowIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'expected 1-64 letters, digits, "_" or "-"' });

/**
 * A new flow id, `flow_<UTC yyyymmddhhmmss>_<6 hex>`: sorts by start time, unique enough
 * for one project's store.
 *
 * @example
 * ```ts
 * newFlowId(); // 'flow_20261202101500_a1b2c3'
 * ```
 */
export function newFlowId(): string {
  const t = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `flow_${t}_${randomBytes(3).toString('hex')}`;
}
