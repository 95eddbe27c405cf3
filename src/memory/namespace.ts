import { FlowError, FlowErrorCode } from '../errors.js';

/** The namespace every flow may read and write besides its own. */
export const SHARED_NAMESPACE = 'shared';

const FLOW_ID = /^[A-Za-z0-9._-]{1,120}$/;

/**
 * The memory namespace of one flow: `flow:<flowId>`.
 *
 * @example
 * ```ts
 * flowNamespace('review-42') // 'flow:review-42'
 * ```
 */
export function flowNamespace(flowId: string): string {
  if (!FLOW_ID.test(flowId) || flowId.includes('..')) {
    throw new FlowError(
      FlowErrorCode.Memory,
      `invalid flow id for a memory namespace: ${JSON.stringify(flowId)} (1-120 of A-Z a-z 0-9 . _ -)`,
    );
  }
  return `flow:${flowId}`;
}
