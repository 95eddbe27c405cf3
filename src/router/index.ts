/**
 * The model router: which model each agent and task gets, what to fall back to, what it all
 * costs. Pure decision logic over OpenCode's provider list; it never calls OpenCode itself.
 * This file is the `opencode-flow/router` entry: every export of it is public API, and
 * test/package/surface.test.ts fails until its list says so when one is added or removed.
 *
 * @example
 * ```ts
 * import { buildCatalog, ModelRouter, CostLedger, Budget } from 'opencode-flow/router';
 * const router = new ModelRouter(buildCatalog(providers), { mode: 'balanced' });
 * const { model, chain, estimate } = router.select({ agent: 'coder', task: 'Build a REST API' });
 * ```
 */
export {
  DEFAULT_COOLDOWN_MS,
  FloorsSchema,
  ModelIdSchema,
  ModelRouterConfigSchema,
  ModelScoreOverrideSchema,
  ROUTING_MODES,
  RoutingRuleSchema,
  TASK_TYPES,
  TaskTypeSchema,
  parseModelRouterConfig,
} from './config.js';
export type {
  ModelRouterConfig,
  ModelRouterConfigInput,
  ModelScoreOverrides,
  RoutingMode,
  RoutingRule,
  TaskType,
} from './config.js';
export { DEFAULT_QUALITY, DEFAULT_SPEED, QUALITY_TABLE, lookupModelScore, tokenizeModelName } from './quality.js';
export type { ModelScore, QualityEntry } from './quality.js';
export { ModelCatalog, buildCatalog } from './catalog.js';
export type { ModelInfo, ProviderInput, ProviderModelInput, ProvidersAnswer } from './catalog.js';
export { DEFAULT_FLOORS, classifyTask, floorFor } from './classify.js';
export type { ClassifyInput } from './classify.js';
export {
  BALANCED_WEIGHTS,
  COST_EPSILON,
  DEFAULT_EXPECTED_OUTPUT_TOKENS,
  PROMPT_OVERHEAD_TOKENS,
  comparatorFor,
  estimateCost,
  estimatePromptTokens,
  rankModels,
} from './score.js';
export type { RankOptions, RankedModel } from './score.js';
export { ERROR_KINDS, classifyError } from './error-kind.js';
export type { ErrorKind } from './error-kind.js';
export { DEFAULT_CHAIN_LENGTH, ModelRouter } from './router.js';
export type { NextInput, SelectInput, Selection, SelectionSource } from './router.js';
export { CostLedger } from './ledger.js';
export type {
  AgentTotals,
  CostSummary,
  LedgerEntry,
  LedgerJSON,
  LedgerRecordInput,
  LedgerRow,
  SessionTotals,
  Totals,
} from './ledger.js';
export { Budget } from './budget.js';
export type { BudgetCheck, BudgetOptions, Reservation } from './budget.js';
