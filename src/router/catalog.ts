import type { ModelScoreOverrides } from './config.js';
import { lookupModelScore } from './quality.js';

/**
 * One model entry as `GET /config/providers` gives it (OpenAPI schema `Model`); only the
 * fields the router reads. Prices are USD per 1M tokens. `cache_read`/`cache_write` are
 * accepted too, for hand-written catalogs in the models.dev style.
 *
 * @example
 * ```ts
 * const m: ProviderModelInput = { cost: { input: 0.25, output: 2 }, limit: { context: 400_000, output: 128_000 } };
 * ```
 */
export interface ProviderModelInput {
  id?: string;
  name?: string;
  cost?: {
    input: number;
    output: number;
    cache?: { read: number; write: number };
    cache_read?: number;
    cache_write?: number;
  };
  limit?: { context: number; input?: number; output: number };
  capabilities?: { toolcall?: boolean };
  status?: string;
}

/**
 * One provider as `GET /config/providers` gives it (OpenAPI schema `Provider`).
 *
 * @example
 * ```ts
 * const p: ProviderInput = { id: 'ollama', models: { 'qwen2.5-coder:7b': {} } };
 * ```
 */
export interface ProviderInput {
  id: string;
  name?: string;
  models: Record<string, ProviderModelInput>;
}

/**
 * The answer of OpenCode's `GET /config/providers` (`client.config.providers()` data): the
 * providers the server can actually serve, and each provider's default model.
 *
 * @example
 * ```ts
 * const { data } = await client.config.providers();
 * const catalog = buildCatalog(data as ProvidersAnswer);
 * ```
 */
export interface ProvidersAnswer {
  providers: readonly ProviderInput[];
  default?: Record<string, string>;
}

/**
 * What the router knows about one servable model.
 *
 * @example
 * ```ts
 * const m: ModelInfo | undefined = catalog.get('anthropic/claude-sonnet-4');
 * m?.cost.input; // USD per 1M input tokens
 * ```
 */
export interface ModelInfo {
  /** `providerID/modelID`, exactly as OpenCode serves it. */
  readonly id: string;
  readonly providerID: string;
  /** The key under `provider.models`: what `session.prompt({ model: { modelID } })` takes. */
  readonly modelID: string;
  readonly name: string;
  /** USD per 1M tokens; a model without a price is taken as free (OpenCode bills it 0 too). */
  readonly cost: {
    readonly input: number;
    readonly output: number;
    readonly cacheRead?: number;
    readonly cacheWrite?: number;
  };
  /** Tokens of context (`limit.context`). */
  readonly contextLimit?: number;
  /** Tokens of input, where the server states it apart from the context (`limit.input`). */
  readonly inputLimit?: number;
  readonly outputLimit?: number;
  /** 0–100, from the shipped table, the user's override, or the default. */
  readonly quality: number;
  /** 0–100, as `quality`. */
  readonly speed: number;
  /** False when quality/speed are the defaults for an unknown model. */
  readonly scored: boolean;
  /** False when the server says the model cannot call tools: scoring never picks it for an agent. */
  readonly toolcall: boolean;
}

/**
 * The models one OpenCode server can serve, with prices and scores. Routing only ever picks
 * models from here.
 *
 * @example
 * ```ts
 * const catalog = buildCatalog(providersAnswer);
 * catalog.has('openai/gpt-5-mini');
 * catalog.resolve('anthropic/claude-sonnet-4')?.id; // 'anthropic/claude-sonnet-4-20250514' if only the dated id is served
 * ```
 */
export class ModelCatalog {
  readonly #byId = new Map<string, ModelInfo>();
  readonly #byAlias = new Map<string, ModelInfo>();
  readonly #byModelID = new Map<string, ModelInfo>();
  readonly #list: readonly ModelInfo[];
  /** The server's default model per provider (`providerID → modelID`). */
  readonly defaults: Readonly<Record<string, string>>;

  constructor(models: Iterable<ModelInfo>, defaults: Record<string, string> = {}) {
    const list: ModelInfo[] = [];
    for (const model of models) {
      if (this.#byId.has(model.id)) continue;
      const frozen = canonical(model);
      this.#byId.set(model.id, frozen);
      list.push(frozen);
    }
    // Not Object.freeze: reads of a frozen array are markedly slower in V8, and ranking reads
    // this list on every decision. The type is readonly; the models themselves are frozen.
    this.#list = list;
    // First one wins so aliases resolve the same way for the same server answer.
    for (const model of list) {
      const alias = `${model.providerID}/${aliasKey(model.modelID)}`;
      if (!this.#byAlias.has(alias)) this.#byAlias.set(alias, model);
      if (!this.#byModelID.has(model.modelID)) this.#byModelID.set(model.modelID, model);
      const bare = aliasKey(model.modelID);
      if (!this.#byModelID.has(bare)) this.#byModelID.set(bare, model);
    }
    this.defaults = Object.freeze({ ...defaults });
  }

  /** Number of models. */
  get size(): number {
    return this.#list.length;
  }

  /** True when the server serves exactly this `provider/model` id. */
  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** The model with exactly this id. */
  get(id: string): ModelInfo | undefined {
    return this.#byId.get(id);
  }

  /** All models, in the server's order. */
  list(): readonly ModelInfo[] {
    return this.#list;
  }

  /**
   * Finds the served model a user meant: the exact id; else the same provider's model that
   * differs only by a date or `latest` suffix (`anthropic/claude-sonnet-4` →
   * `anthropic/claude-sonnet-4-20250514`); else, for a bare model name with no provider
   * (`gemini-2.5-flash`), the first provider serving it. Never invents a model.
   */
  resolve(id: string): ModelInfo | undefined {
    const exact = this.#byId.get(id);
    if (exact) return exact;
    const slash = id.indexOf('/');
    if (slash < 0) return this.#byModelID.get(id) ?? this.#byModelID.get(aliasKey(id));
    return this.#byAlias.get(`${id.slice(0, slash)}/${aliasKey(id.slice(slash + 1))}`);
  }

  /**
   * A copy of this catalog with the user's quality/speed scores applied (they count as
   * scored). Overrides naming models the server lacks are ignored.
   */
  withOverrides(overrides: ModelScoreOverrides | undefined): ModelCatalog {
    if (!overrides || Object.keys(overrides).length === 0) return this;
    return new ModelCatalog(
      this.#list.map((m) => applyOverride(m, overrides[m.id])),
      this.defaults,
    );
  }
}

/**
 * Builds the catalog from OpenCode's `GET /config/providers` answer, scoring each model from
 * the shipped table (`quality.ts`) and the user's `overrides`.
 *
 * @example
 * ```ts
 * const catalog = buildCatalog({
 *   providers: [{ id: 'anthropic', models: { 'claude-sonnet-4-20250514': { cost: { input: 3, output: 15 } } } }],
 *   default: { anthropic: 'claude-sonnet-4-20250514' },
 * }, { 'anthropic/claude-sonnet-4-20250514': { speed: 70 } });
 * catalog.get('anthropic/claude-sonnet-4-20250514')?.quality; // 95
 * ```
 */
export function buildCatalog(answer: ProvidersAnswer, overrides?: ModelScoreOverrides): ModelCatalog {
  const models: ModelInfo[] = [];
  for (const provider of answer.providers) {
    for (const [modelID, raw] of Object.entries(provider.models)) {
      const id = `${provider.id}/${modelID}`;
      const score = lookupModelScore(id);
      const info: ModelInfo = {
        id,
        providerID: provider.id,
        modelID,
        name: raw.name ?? modelID,
        cost: {
          input: price(raw.cost?.input),
          output: price(raw.cost?.output),
          ...optional('cacheRead', raw.cost?.cache?.read ?? raw.cost?.cache_read),
          ...optional('cacheWrite', raw.cost?.cache?.write ?? raw.cost?.cache_write),
        },
        ...optional('contextLimit', raw.limit?.context),
        ...optional('inputLimit', raw.limit?.input),
        ...optional('outputLimit', raw.limit?.output),
        quality: score.quality,
        speed: score.speed,
        scored: score.scored,
        toolcall: raw.capabilities?.toolcall !== false,
      };
      models.push(applyOverride(info, overrides?.[id]));
    }
  }
  return new ModelCatalog(models, answer.default ?? {});
}

/**
 * A frozen copy with every field present in one fixed order, so all models share one hidden
 * class and the ranking loop's property reads stay monomorphic (about 2× faster on 150 models).
 */
function canonical(m: ModelInfo): ModelInfo {
  return Object.freeze({
    id: m.id,
    providerID: m.providerID,
    modelID: m.modelID,
    name: m.name,
    cost: Object.freeze({
      input: m.cost.input,
      output: m.cost.output,
      cacheRead: m.cost.cacheRead,
      cacheWrite: m.cost.cacheWrite,
    }),
    contextLimit: m.contextLimit,
    inputLimit: m.inputLimit,
    outputLimit: m.outputLimit,
    quality: m.quality,
    speed: m.speed,
    scored: m.scored,
    toolcall: m.toolcall,
  });
}

function applyOverride(model: ModelInfo, override: { quality?: number; speed?: number } | undefined): ModelInfo {
  if (!override || (override.quality === undefined && override.speed === undefined)) return model;
  return {
    ...model,
    quality: override.quality ?? model.quality,
    speed: override.speed ?? model.speed,
    scored: true,
  };
}

/** Model part without a trailing date, `latest` or `0` tag: the key aliases are matched on. */
function aliasKey(modelID: string): string {
  return modelID.toLowerCase().replace(/(?:[-@:](?:\d{8}|\d{4}-\d{2}-\d{2}|latest|0))+$/, '');
}

function price(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : 0;
}

/** A positive finite number as `{ key: value }`, else nothing (keeps exactOptional-friendly objects). */
function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return value !== undefined && Number.isFinite(value) && value > 0 ? ({ [key]: value } as { [P in K]?: number }) : {};
}
