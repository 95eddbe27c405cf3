import type { ModelInfo } from './catalog.js';
import type { RoutingMode } from './config.js';

/**
 * Output tokens assumed per task when the config gives no `expectedOutputTokens`.
 *
 * @example
 * ```ts
 * estimateCost(model, 5_000, DEFAULT_EXPECTED_OUTPUT_TOKENS);
 * ```
 */
export const DEFAULT_EXPECTED_OUTPUT_TOKENS = 1000;

/**
 * Input tokens added to the task text's own when the caller gives no `promptTokens`: a rough
 * allowance for OpenCode's system prompt and tool list, which every prompt carries.
 *
 * @example
 * ```ts
 * estimatePromptTokens(''); // PROMPT_OVERHEAD_TOKENS
 * ```
 */
export const PROMPT_OVERHEAD_TOKENS = 3000;

/**
 * Weights of the `balanced` score. They sum to 1.
 *
 * @example
 * ```ts
 * BALANCED_WEIGHTS.quality; // 0.5
 * ```
 */
export const BALANCED_WEIGHTS = Object.freeze({ quality: 0.5, cost: 0.35, speed: 0.15 });

/**
 * Added to every estimate (USD) before taking its logarithm, so free models (estimate 0)
 * have a finite cost score; a millionth of a dollar is below any priced model's estimate.
 *
 * @example
 * ```ts
 * Math.log(0 + COST_EPSILON); // finite, for a free local model
 * ```
 */
export const COST_EPSILON = 1e-6;

/**
 * Rough prompt size of a task: about 4 characters per token, plus
 * {@link PROMPT_OVERHEAD_TOKENS}.
 *
 * @example
 * ```ts
 * estimatePromptTokens('x'.repeat(400)); // 3100
 * ```
 */
export function estimatePromptTokens(task: string): number {
  return Math.ceil(task.length / 4) + PROMPT_OVERHEAD_TOKENS;
}

/**
 * Estimated USD cost of one task on a model: `(promptTokens·input + outputTokens·output) / 1e6`,
 * prices being USD per 1M tokens. Cache discounts are ignored, so the estimate errs high.
 *
 * @example
 * ```ts
 * estimateCost({ cost: { input: 3, output: 15 } }, 10_000, 1_000); // 0.045
 * ```
 */
export function estimateCost(model: Pick<ModelInfo, 'cost'>, promptTokens: number, outputTokens: number): number {
  return (promptTokens * model.cost.input + outputTokens * model.cost.output) / 1e6;
}

/**
 * A model with its estimate and its score under one mode (higher is better).
 *
 * @example
 * ```ts
 * const [best]: RankedModel[] = rankModels(catalog.list(), { mode: 'cost', promptTokens: 4000, outputTokens: 1000 });
 * ```
 */
export interface RankedModel {
  readonly model: ModelInfo;
  /** USD, see {@link estimateCost}. */
  readonly estimate: number;
  /**
   * `cost`: −estimate; `quality`: quality; `speed`: speed; `balanced`: the weighted score in
   * [0, 1] (see {@link rankModels}).
   */
  readonly score: number;
}

/**
 * Options of {@link rankModels}.
 *
 * @example
 * ```ts
 * const opts: RankOptions = { mode: 'balanced', promptTokens: 8000, outputTokens: 1000, floor: 85 };
 * ```
 */
export interface RankOptions {
  mode: RoutingMode;
  promptTokens: number;
  outputTokens: number;
  /** Minimum quality; models under it are left out. */
  floor?: number;
  /** USD; models whose estimate is above it are left out. */
  maxCostPerTask?: number;
  /** Keep only the best `limit` (partial selection: O(n·limit), not a full sort). */
  limit?: number;
  /** Ids to leave out. */
  exclude?: ReadonlySet<string>;
}

/**
 * Ranks models for a task, best first. Deterministic: every tie ends on the model id.
 *
 * Candidates are the models that can call tools, have `quality ≥ floor`, and (when
 * `maxCostPerTask` is set) `estimate ≤ maxCostPerTask`. With `e` the estimate
 * ({@link estimateCost}), `q` the quality and `s` the speed:
 *
 * - `cost` — lowest `e`; ties → higher `q`, then higher `s`.
 * - `quality` — highest `q`; ties → lower `e`, then higher `s`.
 * - `speed` — highest `s`; ties → higher `q`, then lower `e`.
 * - `balanced` — highest `0.5·q/100 + 0.35·c + 0.15·s/100`, where the cost score
 *   `c = (ln(eMax+ε) − ln(e+ε)) / (ln(eMax+ε) − ln(eMin+ε))` is 1 for the cheapest candidate
 *   and 0 for the dearest (1 for all when they cost the same), ε = {@link COST_EPSILON}.
 *   The logarithm is deliberate: prices span three orders of magnitude, and on a linear
 *   scale everything but the dearest model would look free. Ties → higher `q`, then lower `e`.
 *
 * @example
 * ```ts
 * const ranked = rankModels(catalog.list(), { mode: 'cost', promptTokens: 5000, outputTokens: 1000, floor: 80 });
 * ranked[0]?.model.id; // the cheapest model of quality ≥ 80
 * ```
 */
export function rankModels(models: readonly ModelInfo[], options: RankOptions): RankedModel[] {
  const { mode, promptTokens, outputTokens } = options;
  const floor = options.floor ?? 0;
  const cap = options.maxCostPerTask ?? Number.POSITIVE_INFINITY;
  const exclude = options.exclude;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (limit <= 0) return [];

  // Pass 1: filter, estimate, and (balanced) the log-cost range. Scratch arrays are reused
  // across calls: this runs on every decision and should not feed the garbage collector.
  const n = models.length;
  if (scratchIndex.length < n) {
    scratchIndex = new Int32Array(n);
    scratchEstimate = new Float64Array(n);
  }
  const index = scratchIndex;
  const estimates = scratchEstimate;
  let count = 0;
  let minLog = Number.POSITIVE_INFINITY;
  let maxLog = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const model = models[i] as ModelInfo;
    if (!model.toolcall || model.quality < floor) continue;
    if (exclude !== undefined && exclude.has(model.id)) continue;
    const estimate = (promptTokens * model.cost.input + outputTokens * model.cost.output) / 1e6;
    if (estimate > cap) continue;
    index[count] = i;
    estimates[count] = estimate;
    count++;
    if (mode === 'balanced') {
      const log = Math.log(estimate + COST_EPSILON);
      if (log < minLog) minLog = log;
      if (log > maxLog) maxLog = log;
    }
  }

  // Pass 2: score and keep the best `limit`, allocating only for models that make the cut.
  const span = maxLog - minLog;
  const top: RankedModel[] = [];
  for (let k = 0; k < count; k++) {
    const model = models[index[k] as number] as ModelInfo;
    const estimate = estimates[k] as number;
    let score: number;
    switch (mode) {
      case 'cost':
        score = -estimate;
        break;
      case 'quality':
        score = model.quality;
        break;
      case 'speed':
        score = model.speed;
        break;
      case 'balanced': {
        const costScore = span > 0 ? (maxLog - Math.log(estimate + COST_EPSILON)) / span : 1;
        score =
          (BALANCED_WEIGHTS.quality * model.quality) / 100 +
          BALANCED_WEIGHTS.cost * costScore +
          (BALANCED_WEIGHTS.speed * model.speed) / 100;
        break;
      }
    }
    if (top.length >= limit && compareRaw(mode, model, estimate, score, top[top.length - 1] as RankedModel) >= 0)
      continue;
    if (top.length >= limit) top.pop();
    let at = top.length;
    while (at > 0 && compareRaw(mode, model, estimate, score, top[at - 1] as RankedModel) < 0) at--;
    top.splice(at, 0, { model, estimate, score });
  }
  return top;
}

let scratchIndex = new Int32Array(256);
let scratchEstimate = new Float64Array(256);

/** Negative when a model with these figures ranks before `b` (the order documented on {@link rankModels}). */
function compareRaw(mode: RoutingMode, model: ModelInfo, estimate: number, score: number, b: RankedModel): number {
  const d = b.score - score;
  if (d !== 0) return d;
  const bm = b.model;
  let t: number;
  switch (mode) {
    case 'cost':
      t = bm.quality - model.quality || bm.speed - model.speed;
      break;
    case 'quality':
      t = estimate - b.estimate || bm.speed - model.speed;
      break;
    case 'speed':
    case 'balanced':
      t = bm.quality - model.quality || estimate - b.estimate;
      break;
  }
  if (t !== 0) return t;
  return model.id < bm.id ? -1 : model.id > bm.id ? 1 : 0;
}

/**
 * The ordering {@link rankModels} uses for a mode (negative when `a` ranks first).
 *
 * @example
 * ```ts
 * ranked.sort(comparatorFor('quality'));
 * ```
 */
export function comparatorFor(mode: RoutingMode): (a: RankedModel, b: RankedModel) => number {
  return (a, b) => compareRaw(mode, a.model, a.estimate, a.score, b);
}
