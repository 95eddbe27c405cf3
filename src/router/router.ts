import { FlowError, FlowErrorCode } from '../errors.js';
import type { ModelCatalog, ModelInfo } from './catalog.js';
import { classifyTask, floorFor } from './classify.js';
import { parseModelRouterConfig } from './config.js';
import type { ModelRouterConfig, ModelRouterConfigInput, RoutingRule, TaskType } from './config.js';
import type { ErrorKind } from './error-kind.js';
import { DEFAULT_EXPECTED_OUTPUT_TOKENS, estimateCost, estimatePromptTokens, rankModels } from './score.js';
import type { RankedModel } from './score.js';

/**
 * How many models a ranking-derived fallback chain holds (after the selected one).
 *
 * @example
 * ```ts
 * router.select({ agent: 'a', task: 't' }).chain.length <= DEFAULT_CHAIN_LENGTH; // when no fallbackChain is configured
 * ```
 */
export const DEFAULT_CHAIN_LENGTH = 4;

/**
 * What {@link ModelRouter.select} needs to know about one task.
 *
 * @example
 * ```ts
 * const input: SelectInput = { agent: 'coder', task: 'Build a REST API', preferred: 'anthropic/claude-sonnet-4' };
 * ```
 */
export interface SelectInput {
  /** The agent's name; also the key under which the chain is remembered for {@link ModelRouter.next}. */
  agent: string;
  role?: string;
  task: string;
  /** Skip classification. */
  taskType?: TaskType;
  /** Input tokens of the prompt; default {@link estimatePromptTokens}(task). */
  promptTokens?: number;
  /**
   * The agent's own minimum quality, 0–100 (a preset's `flow.qualityFloor`). Scoring uses the
   * higher of this and the task type's floor, so an agent never gets a model under either.
   */
  qualityFloor?: number;
  /** The agent's explicit model: always wins when the server serves it. */
  preferred?: string;
  /** Clock for cooldowns (ms); default `Date.now()`. */
  now?: number;
}

/**
 * Which step decided: the agent's explicit model, a config rule, or scoring.
 *
 * @example
 * ```ts
 * if (selection.source === 'rule') log(selection.reason);
 * ```
 */
export type SelectionSource = 'preferred' | 'rule' | 'score';

/**
 * The router's decision for one task.
 *
 * @example
 * ```ts
 * const { model, chain, estimate } = router.select({ agent: 'reviewer', task: 'Review PR #7' });
 * ```
 */
export interface Selection {
  /** A served `provider/model` id. */
  model: string;
  taskType: TaskType;
  /** One line a person can read: which step decided and on what numbers. */
  reason: string;
  /** Served models to fall back to, in order, without `model`. */
  chain: string[];
  /** Estimated USD cost of the task on `model`. */
  estimate: number;
  source: SelectionSource;
  /** The quality floor that applied to scoring: the higher of the task type's and the agent's. */
  floor: number;
}

/**
 * What {@link ModelRouter.next} needs after a failure.
 *
 * @example
 * ```ts
 * const input: NextInput = { agent: 'coder', failed: 'openai/gpt-5', errorKind: 'rate_limit', tried: ['openai/gpt-5'] };
 * ```
 */
export interface NextInput {
  agent: string;
  /** The model that just failed. */
  failed: string;
  errorKind: ErrorKind;
  /** Every model already tried for this task (the failed one may be included). */
  tried: readonly string[];
  now?: number;
  /**
   * The chain to walk; default the chain of this agent's last `select` (pass the one you kept
   * when the router is new, e.g. after restoring a persisted flow).
   */
  chain?: readonly string[];
}

interface CompiledRule {
  readonly index: number;
  readonly rule: RoutingRule;
  readonly re?: RegExp;
  readonly model?: ModelInfo;
}

/** Which floor bound a selection: the task type's, or the agent's own (stricter) one. */
type FloorOrigin = { taskType: TaskType } | { agent: string };

interface Remembered {
  readonly chain: readonly string[];
  readonly taskType: TaskType;
  readonly floor: number;
  readonly promptTokens: number;
}

/**
 * Picks a model per agent and task from what the OpenCode server can serve, and the next
 * model after a failure. Pure decision logic: it never calls OpenCode. One router per flow,
 * so that cooldowns are shared by all its agents.
 *
 * `select` decides in this order:
 * 1. `preferred` (the agent's explicit model), when served — it wins even over a cooldown,
 *    floors and `maxCostPerTask`: the user asked for it by name.
 * 2. The first rule that matches and whose model is served and not cooling down. Rules are
 *    explicit too, so floors and `maxCostPerTask` do not apply to them.
 * 3. Scoring (`score.ts`) over the served, tool-capable models with quality ≥ the task's
 *    floor and estimate ≤ `maxCostPerTask`, skipping models that are cooling down.
 * When every option left is cooling down, the best cooling one is used rather than none.
 * When scoring is needed and no served model meets the floor, `select` throws a `FlowError`
 * `invalid_config` (never a silent pick under the floor): lower `floors`, score the model in
 * `models`, add a rule, or give the agent a model. When models meet the floor but all cost
 * more than `maxCostPerTask`, it picks the cheapest of them and says so in `reason`: the
 * router only estimates; the run's cost owner (`RunCost`) refuses a prompt over the cap.
 *
 * @example
 * ```ts
 * const router = new ModelRouter(buildCatalog(providers), { mode: 'cost' });
 * const pick = router.select({ agent: 'reviewer', task: 'Review the diff' });
 * // ...the provider answers 429:
 * const next = router.next({ agent: 'reviewer', failed: pick.model, errorKind: 'rate_limit', tried: [pick.model] });
 * ```
 */
export class ModelRouter {
  readonly catalog: ModelCatalog;
  readonly config: ModelRouterConfig;
  readonly #rules: readonly CompiledRule[];
  readonly #fallbackChain: readonly string[] | undefined;
  readonly #outputTokens: number;
  readonly #cooldowns = new Map<string, number>();
  readonly #remembered = new Map<string, Remembered>();

  /**
   * @param catalog what the server serves (see `buildCatalog`).
   * @param config the `modelRouter` config; parsed here, so a bad one throws `invalid_config`.
   */
  constructor(catalog: ModelCatalog, config: ModelRouterConfigInput | ModelRouterConfig = {}) {
    this.config = parseModelRouterConfig(config);
    this.catalog = catalog.withOverrides(this.config.models);
    this.#outputTokens = this.config.expectedOutputTokens ?? DEFAULT_EXPECTED_OUTPUT_TOKENS;
    this.#rules = (this.config.rules ?? []).map((rule, index) => ({
      index,
      rule,
      ...(rule.match !== undefined ? { re: new RegExp(rule.match, 'i') } : {}),
      ...optionalModel(this.catalog.resolve(rule.model)),
    }));
    if (this.config.fallbackChain) {
      const served = this.config.fallbackChain
        .map((id) => this.catalog.resolve(id)?.id)
        .filter((id): id is string => id !== undefined);
      this.#fallbackChain = [...new Set(served)];
    }
  }

  /**
   * Picks the model for one task (see the class comment for the order of decision). Also
   * remembers the chain under `input.agent` for {@link ModelRouter.next}.
   */
  select(input: SelectInput): Selection {
    const now = input.now ?? Date.now();
    const taskType = input.taskType ?? classifyTask(input);
    const typeFloor = floorFor(taskType, this.config.floors);
    const agentFloor = input.qualityFloor;
    if (agentFloor !== undefined && !(agentFloor >= 0 && agentFloor <= 100)) {
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `select: qualityFloor of agent "${input.agent}" must be a number from 0 to 100, got ${agentFloor}`,
      );
    }
    // The agent's floor binds only when it is stricter than the task type's.
    const byAgent = agentFloor !== undefined && agentFloor > typeFloor;
    const floor = byAgent ? agentFloor : typeFloor;
    const why: FloorOrigin = byAgent ? { agent: input.agent } : { taskType };
    const promptTokens = input.promptTokens ?? estimatePromptTokens(input.task);
    if (!Number.isFinite(promptTokens) || promptTokens < 0) {
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `select: promptTokens must be a finite number ≥ 0, got ${promptTokens}`,
      );
    }
    const notes: string[] = [];
    const done = (
      model: ModelInfo,
      source: SelectionSource,
      reason: string,
      ranked?: readonly RankedModel[],
    ): Selection => {
      const chain = this.#chainFor(model.id, ranked ?? this.#rank(floor, promptTokens, now));
      this.#remembered.set(input.agent, { chain, taskType, floor, promptTokens });
      return {
        model: model.id,
        taskType,
        reason: notes.length > 0 ? `${reason} (${notes.join('; ')})` : reason,
        chain,
        estimate: estimateCost(model, promptTokens, this.#outputTokens),
        source,
        floor,
      };
    };

    if (input.preferred !== undefined) {
      const preferred = this.catalog.resolve(input.preferred);
      if (preferred) {
        if (this.isCoolingDown(preferred.id, now)) notes.push('cooling down, kept as the agent asked for it');
        return done(preferred, 'preferred', `preferred: the agent's model ${preferred.id}`);
      }
      notes.push(`preferred ${input.preferred} is not served`);
    }

    // Rules first; a cooling rule model is kept only as a last resort.
    let lastResort: { model: ModelInfo; source: SelectionSource; reason: string } | undefined;
    for (const rule of this.#rules) {
      if (!ruleMatches(rule, input, taskType)) continue;
      if (!rule.model) {
        notes.push(`rule #${rule.index} names ${rule.rule.model}, which is not served`);
        continue;
      }
      const reason = `rule #${rule.index} (${describeRule(rule.rule)}) → ${rule.model.id}`;
      if (!this.isCoolingDown(rule.model.id, now)) return done(rule.model, 'rule', reason);
      notes.push(`rule #${rule.index} model ${rule.model.id} is cooling down`);
      lastResort ??= { model: rule.model, source: 'rule', reason };
    }

    const ranked = this.#rank(floor, promptTokens, now);
    const pick = ranked.find((r) => !this.isCoolingDown(r.model.id, now));
    if (pick) {
      const skipped = ranked.indexOf(pick);
      if (skipped > 0) notes.push(`skipped ${skipped} cooling model${skipped > 1 ? 's' : ''}`);
      return done(pick.model, 'score', this.#explain(pick, why, floor), ranked);
    }
    if (lastResort) {
      notes.push('every candidate is cooling down');
      return done(lastResort.model, lastResort.source, lastResort.reason, ranked);
    }
    const first = ranked[0];
    if (first) {
      notes.push('every candidate is cooling down');
      return done(first.model, 'score', this.#explain(first, why, floor), ranked);
    }
    // Models meet the floor but none fits maxCostPerTask: the router only estimates, so it
    // names the cheapest of them; the run's cost owner (RunCost) refuses the prompt.
    const cheapest = this.#cheapestMeeting(floor, promptTokens);
    if (cheapest && this.config.maxCostPerTask !== undefined) {
      notes.push(`no served model fits maxCostPerTask $${this.config.maxCostPerTask}`);
      return done(cheapest.model, 'score', `cheapest with quality ≥ ${floor} → ${cheapest.model.id}`, [cheapest]);
    }
    throw this.#noCandidate(taskType, why, floor);
  }

  #cheapestMeeting(floor: number, promptTokens: number): RankedModel | undefined {
    return rankModels(this.catalog.list(), {
      mode: 'cost',
      promptTokens,
      outputTokens: this.#outputTokens,
      floor,
      limit: 1,
    })[0];
  }

  /**
   * The next model to try after `failed`, or `undefined` when none is left. Walks the chain
   * (the one given, else this agent's last selection's, else `fallbackChain`, else the
   * ranking for a general task), skipping every model in `tried`, the failed one, and models
   * cooling down — unless only cooling ones are left, then the one free soonest. Side effects,
   * so every agent of the flow benefits: `rate_limit` and `server` cool the failed model down;
   * `auth` cools down every model of its provider and skips them. `context_overflow` wants a
   * larger context window than the failed model's: the first such model of the chain, else
   * the best-ranked such model meeting the floor.
   *
   * @example
   * ```ts
   * router.next({ agent: 'coder', failed: 'openai/gpt-5', errorKind: 'rate_limit', tried: ['openai/gpt-5'] });
   * ```
   */
  next(input: NextInput): string | undefined {
    const now = input.now ?? Date.now();
    const failed = this.catalog.resolve(input.failed);
    const failedId = failed?.id ?? input.failed;
    const exclude = new Set<string>([failedId]);
    for (const id of input.tried) exclude.add(this.catalog.resolve(id)?.id ?? id);

    if (input.errorKind === 'rate_limit' || input.errorKind === 'server') this.cooldown(failedId, undefined, now);
    if (input.errorKind === 'auth' && failed) {
      for (const model of this.catalog.list()) {
        if (model.providerID !== failed.providerID) continue;
        this.cooldown(model.id, undefined, now);
        exclude.add(model.id);
      }
    }

    const remembered = this.#remembered.get(input.agent);
    const chain = input.chain ?? remembered?.chain ?? this.#defaultChain(now);
    let candidates = chain
      .map((id) => this.catalog.resolve(id))
      .filter((m): m is ModelInfo => m !== undefined && !exclude.has(m.id));

    if (input.errorKind === 'context_overflow') {
      const limit = failed ? windowOf(failed) : undefined;
      if (limit !== undefined) {
        const larger = (m: ModelInfo): boolean => (windowOf(m) ?? 0) > limit;
        candidates = candidates.filter(larger);
        if (candidates.length === 0) {
          const taskType = remembered?.taskType ?? 'general';
          const floor = remembered?.floor ?? floorFor(taskType, this.config.floors);
          const promptTokens = remembered?.promptTokens ?? estimatePromptTokens('');
          candidates = this.#rank(floor, promptTokens, now, Number.POSITIVE_INFINITY)
            .map((r) => r.model)
            .filter((m) => larger(m) && !exclude.has(m.id));
        }
      }
    }

    const free = candidates.find((m) => !this.isCoolingDown(m.id, now));
    if (free) return free.id;
    let soonest: ModelInfo | undefined;
    for (const m of candidates) {
      if (!soonest || (this.#cooldowns.get(m.id) ?? 0) < (this.#cooldowns.get(soonest.id) ?? 0)) soonest = m;
    }
    return soonest?.id;
  }

  /**
   * Marks a model as cooling down for `ms` (default `cooldownMs`): `select` and `next` skip it
   * for every agent of the flow until then, unless nothing else is left. A second call never
   * shortens an existing cooldown.
   *
   * @example
   * ```ts
   * router.cooldown('openai/gpt-5');          // after a 429
   * router.isCoolingDown('openai/gpt-5');     // true for the next 30 s
   * ```
   */
  cooldown(model: string, ms: number = this.config.cooldownMs, now: number = Date.now()): void {
    const id = this.catalog.resolve(model)?.id ?? model;
    const until = now + ms;
    if ((this.#cooldowns.get(id) ?? Number.NEGATIVE_INFINITY) < until) this.#cooldowns.set(id, until);
  }

  /**
   * True while `model` is cooling down.
   *
   * @example
   * ```ts
   * if (router.isCoolingDown('openai/gpt-5', Date.now())) ...
   * ```
   */
  isCoolingDown(model: string, now: number = Date.now()): boolean {
    if (this.#cooldowns.size === 0) return false;
    const until = this.#cooldowns.get(model) ?? this.#cooldowns.get(this.catalog.resolve(model)?.id ?? model);
    return until !== undefined && until > now;
  }

  /**
   * The models cooling down at `now`, with the time (ms) each is free again.
   *
   * @example
   * ```ts
   * router.cooldowns(); // { 'openai/gpt-5': 1767225600000 }
   * ```
   */
  cooldowns(now: number = Date.now()): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, until] of this.#cooldowns) {
      if (until > now) out[id] = until;
      else this.#cooldowns.delete(id);
    }
    return out;
  }

  /**
   * Estimated USD cost of a task on `model`, by the same formula and `expectedOutputTokens`
   * as `select`; `undefined` when the server does not serve the model. What a budget should
   * reserve before a prompt starts.
   *
   * @example
   * ```ts
   * budget.reserve(router.estimate('openai/gpt-5', estimatePromptTokens(task.text)) ?? 0);
   * ```
   */
  estimate(model: string, promptTokens: number): number | undefined {
    const info = this.catalog.resolve(model);
    return info ? estimateCost(info, promptTokens, this.#outputTokens) : undefined;
  }

  #rank(floor: number, promptTokens: number, now: number, limit?: number): RankedModel[] {
    // Room for the pick, the chain, and every model now cooling down (which the pick skips).
    let cooling = 0;
    for (const until of this.#cooldowns.values()) if (until > now) cooling++;
    return rankModels(this.catalog.list(), {
      mode: this.config.mode,
      promptTokens,
      outputTokens: this.#outputTokens,
      floor,
      ...(this.config.maxCostPerTask !== undefined ? { maxCostPerTask: this.config.maxCostPerTask } : {}),
      limit: limit ?? DEFAULT_CHAIN_LENGTH + 1 + cooling,
    });
  }

  #chainFor(selected: string, ranked: readonly RankedModel[]): string[] {
    const configured = this.#fallbackChain?.filter((id) => id !== selected);
    if (configured && configured.length > 0) return configured;
    const chain: string[] = [];
    for (const r of ranked) {
      if (r.model.id === selected) continue;
      chain.push(r.model.id);
      if (chain.length === DEFAULT_CHAIN_LENGTH) break;
    }
    return chain;
  }

  #defaultChain(now: number): readonly string[] {
    if (this.#fallbackChain && this.#fallbackChain.length > 0) return this.#fallbackChain;
    const floor = floorFor('general', this.config.floors);
    return this.#rank(floor, estimatePromptTokens(''), now).map((r) => r.model.id);
  }

  #explain(pick: RankedModel, why: FloorOrigin, floor: number): string {
    const m = pick.model;
    const what = {
      cost: 'cheapest',
      quality: 'highest quality',
      speed: 'fastest',
      balanced: 'best balanced score',
    }[this.config.mode];
    const score = this.config.mode === 'balanced' ? `, score ${pick.score.toFixed(3)}` : '';
    return (
      `${this.config.mode}: ${what} with quality ≥ ${floor} (${'agent' in why ? `agent ${why.agent}'s` : why.taskType} floor) → ${m.id} ` +
      `(quality ${m.quality}${m.scored ? '' : ' unscored'}, speed ${m.speed}, est $${pick.estimate.toFixed(4)}${score})`
    );
  }

  #noCandidate(taskType: TaskType, why: FloorOrigin, floor: number): FlowError {
    const capable = this.catalog.list().filter((m) => m.toolcall);
    const best = [...capable].sort((a, b) => b.quality - a.quality || (a.id < b.id ? -1 : 1))[0];
    const bestText = best
      ? `the best served model is ${best.id} at quality ${best.quality}${best.scored ? '' : ' (unscored default)'}`
      : 'the server offers no tool-capable model';
    if ('agent' in why) {
      return new FlowError(
        FlowErrorCode.InvalidConfig,
        `no served model meets agent "${why.agent}"'s quality floor ${floor} (its qualityFloor); ${bestText}. ` +
          `Quick fix: name a model with --model provider/model (model: in code). Or lower the agent's qualityFloor (flow.qualityFloor in its agent file; a preset is overridden by a file of the same name in .opencode-flow/agents), ` +
          'score the model in modelRouter.models ({ "provider/model": { quality: 80 } }), or add a rule',
        { details: { taskType, agent: why.agent, floor, best: best?.id } },
      );
    }
    return new FlowError(
      FlowErrorCode.InvalidConfig,
      `no served model meets the ${taskType} quality floor ${floor}; ${bestText}. ` +
        `Quick fix: name a model with --model provider/model (model: in code). Or score the model in modelRouter.models ({ "provider/model": { quality: 80 } }), ` +
        `lower modelRouter.floors.${taskType}, or add a rule`,
      { details: { taskType, floor, best: best?.id } },
    );
  }
}

function ruleMatches(rule: CompiledRule, input: SelectInput, taskType: TaskType): boolean {
  const r = rule.rule;
  if (r.agent !== undefined && r.agent !== input.agent && r.agent !== input.role) return false;
  if (r.taskType !== undefined && r.taskType !== taskType) return false;
  if (rule.re !== undefined && !rule.re.test(input.task)) return false;
  return true;
}

function describeRule(rule: RoutingRule): string {
  const parts: string[] = [];
  if (rule.agent !== undefined) parts.push(`agent=${rule.agent}`);
  if (rule.taskType !== undefined) parts.push(`taskType=${rule.taskType}`);
  if (rule.match !== undefined) parts.push(`match=/${rule.match}/i`);
  return parts.length > 0 ? parts.join(', ') : 'any task';
}

function windowOf(model: ModelInfo): number | undefined {
  return model.inputLimit ?? model.contextLimit;
}

function optionalModel(model: ModelInfo | undefined): { model?: ModelInfo } {
  return model ? { model } : {};
}
