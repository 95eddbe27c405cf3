/**
 * Quality for a model nobody scored (neither our table nor the user's `models` override).
 * 60 sits at the `general`/`docs` floor: an unknown model may take general work but is never
 * chosen by scoring for code, review, security or planning until the user scores it.
 *
 * @example
 * ```ts
 * lookupModelScore('scripted/small').quality === DEFAULT_QUALITY; // true
 * ```
 */
export const DEFAULT_QUALITY = 60;

/**
 * Speed for a model nobody scored.
 *
 * @example
 * ```ts
 * lookupModelScore('scripted/small').speed === DEFAULT_SPEED; // true
 * ```
 */
export const DEFAULT_SPEED = 60;

/**
 * One row of the shipped table: a model-name pattern and its scores (0–100 each).
 * Quality is our judgement of agentic coding/reasoning ability; speed of output tokens per
 * second and latency as served by the model's usual providers (local models: on a typical
 * workstation GPU). They order models; they are not benchmarks.
 *
 * @example
 * ```ts
 * const entry: QualityEntry = { pattern: 'claude-sonnet-4', quality: 95, speed: 65 };
 * ```
 */
export interface QualityEntry {
  /** A model name such as `claude-sonnet-4` or `qwen2.5-coder-32b` (see {@link tokenizeModelName}). */
  readonly pattern: string;
  readonly quality: number;
  readonly speed: number;
}

/**
 * The shipped quality/speed table. The spec's seed figures are kept as given:
 * claude-sonnet-4 95, deepseek-r1 / deepseek-reasoner 90, gemini-2.5-flash 78, llama-3.1-8b 75.
 * The longest pattern that matches a model name wins, so `gpt-5-mini` beats `gpt-5`.
 *
 * @example
 * ```ts
 * QUALITY_TABLE.find((e) => e.pattern === 'claude-sonnet-4')?.quality; // 95
 * ```
 */
export const QUALITY_TABLE: readonly QualityEntry[] = [
  // Anthropic
  { pattern: 'claude-opus-4-5', quality: 98, speed: 55 },
  { pattern: 'claude-opus-4-1', quality: 97, speed: 40 },
  { pattern: 'claude-opus-4', quality: 96, speed: 40 },
  { pattern: 'claude-4-opus', quality: 96, speed: 40 },
  { pattern: 'claude-sonnet-4-5', quality: 96, speed: 65 },
  { pattern: 'claude-sonnet-4', quality: 95, speed: 65 },
  { pattern: 'claude-4-sonnet', quality: 95, speed: 65 },
  { pattern: 'claude-3-7-sonnet', quality: 92, speed: 65 },
  { pattern: 'claude-3-5-sonnet', quality: 90, speed: 70 },
  { pattern: 'claude-haiku-4-5', quality: 88, speed: 88 },
  { pattern: 'claude-3-5-haiku', quality: 80, speed: 85 },
  { pattern: 'claude-3-opus', quality: 86, speed: 35 },
  { pattern: 'claude-3-haiku', quality: 70, speed: 92 },
  // OpenAI
  { pattern: 'gpt-5', quality: 95, speed: 50 },
  { pattern: 'gpt-5-codex', quality: 95, speed: 50 },
  { pattern: 'gpt-5-mini', quality: 88, speed: 70 },
  { pattern: 'gpt-5-nano', quality: 78, speed: 85 },
  { pattern: 'gpt-4.1', quality: 88, speed: 70 },
  { pattern: 'gpt-4.1-mini', quality: 82, speed: 82 },
  { pattern: 'gpt-4.1-nano', quality: 72, speed: 92 },
  { pattern: 'gpt-4', quality: 78, speed: 50 },
  { pattern: 'gpt-4o', quality: 85, speed: 75 },
  { pattern: 'gpt-4o-mini', quality: 76, speed: 85 },
  { pattern: 'o1', quality: 90, speed: 30 },
  { pattern: 'o1-mini', quality: 80, speed: 60 },
  { pattern: 'o3', quality: 94, speed: 35 },
  { pattern: 'o3-pro', quality: 95, speed: 15 },
  { pattern: 'o3-mini', quality: 86, speed: 55 },
  { pattern: 'o4-mini', quality: 89, speed: 60 },
  { pattern: 'gpt-oss-120b', quality: 84, speed: 85 },
  { pattern: 'gpt-oss-20b', quality: 76, speed: 90 },
  // Google
  { pattern: 'gemini-3-pro', quality: 97, speed: 50 },
  { pattern: 'gemini-2.5-pro', quality: 93, speed: 55 },
  { pattern: 'gemini-2.5-flash', quality: 78, speed: 88 },
  { pattern: 'gemini-2.5-flash-lite', quality: 70, speed: 95 },
  { pattern: 'gemini-2.0-flash', quality: 74, speed: 90 },
  { pattern: 'gemini-2.0-flash-lite', quality: 66, speed: 95 },
  { pattern: 'gemini-1.5-pro', quality: 80, speed: 60 },
  { pattern: 'gemini-1.5-flash', quality: 68, speed: 85 },
  // DeepSeek
  { pattern: 'deepseek-reasoner', quality: 90, speed: 35 },
  { pattern: 'deepseek-r1', quality: 90, speed: 35 },
  { pattern: 'deepseek-r1-distill', quality: 78, speed: 70 },
  { pattern: 'deepseek-chat', quality: 85, speed: 65 },
  { pattern: 'deepseek-v3', quality: 85, speed: 65 },
  { pattern: 'deepseek-coder', quality: 78, speed: 65 },
  // Meta Llama (hosted or local; Ollama's bare `llama3.1` is the 8B)
  { pattern: 'llama-3.1', quality: 75, speed: 90 },
  { pattern: 'llama-3.1-8b', quality: 75, speed: 92 },
  { pattern: 'llama-3.1-70b', quality: 82, speed: 70 },
  { pattern: 'llama-3.1-405b', quality: 86, speed: 40 },
  { pattern: 'llama-3.2', quality: 62, speed: 95 },
  { pattern: 'llama-3.2-1b', quality: 55, speed: 97 },
  { pattern: 'llama-3.3', quality: 84, speed: 72 },
  { pattern: 'llama-4-scout', quality: 80, speed: 85 },
  { pattern: 'llama-4-maverick', quality: 86, speed: 80 },
  // Qwen (Ollama's bare `qwen2.5-coder` is the 7B)
  { pattern: 'qwen2.5', quality: 72, speed: 85 },
  { pattern: 'qwen2.5-72b', quality: 82, speed: 60 },
  { pattern: 'qwen2.5-coder', quality: 74, speed: 85 },
  { pattern: 'qwen2.5-coder-1.5b', quality: 60, speed: 95 },
  { pattern: 'qwen2.5-coder-14b', quality: 80, speed: 75 },
  { pattern: 'qwen2.5-coder-32b', quality: 84, speed: 65 },
  { pattern: 'qwen3', quality: 80, speed: 75 },
  { pattern: 'qwen3-235b', quality: 88, speed: 55 },
  { pattern: 'qwen3-coder', quality: 90, speed: 65 },
  { pattern: 'qwen3-coder-30b', quality: 82, speed: 85 },
  // Mistral
  { pattern: 'mistral', quality: 62, speed: 90 },
  { pattern: 'mistral-nemo', quality: 66, speed: 90 },
  { pattern: 'mistral-small', quality: 74, speed: 88 },
  { pattern: 'mistral-medium', quality: 82, speed: 70 },
  { pattern: 'mistral-large', quality: 84, speed: 60 },
  { pattern: 'codestral', quality: 80, speed: 85 },
  { pattern: 'devstral', quality: 82, speed: 80 },
  // xAI, Moonshot, Zhipu
  { pattern: 'grok-4', quality: 93, speed: 45 },
  { pattern: 'grok-4-fast', quality: 88, speed: 85 },
  { pattern: 'grok-3', quality: 86, speed: 60 },
  { pattern: 'grok-3-mini', quality: 80, speed: 80 },
  { pattern: 'grok-code-fast', quality: 84, speed: 92 },
  { pattern: 'kimi-k2', quality: 88, speed: 60 },
  { pattern: 'kimi-k2-thinking', quality: 91, speed: 40 },
  { pattern: 'glm-4.5', quality: 87, speed: 60 },
  { pattern: 'glm-4.5-air', quality: 82, speed: 80 },
  { pattern: 'glm-4.6', quality: 89, speed: 60 },
];

/**
 * A model's quality and speed, and whether anyone actually scored it.
 *
 * @example
 * ```ts
 * const s: ModelScore = lookupModelScore('anthropic/claude-sonnet-4-20250514');
 * ```
 */
export interface ModelScore {
  readonly quality: number;
  readonly speed: number;
  /** False when the defaults were used because no pattern matched. */
  readonly scored: boolean;
  /** The table pattern that matched, if any. */
  readonly matched?: string;
}

/**
 * Splits the model part of an id into comparable tokens: lowercase, provider and any gateway
 * prefix dropped (everything up to the last `/`), cut on every non-alphanumeric character and
 * between letters and digits. So `llama3.1:8b`, `llama-3.1-8b-instant` and
 * `meta-llama/Llama-3.1-8B-Instruct` all start with `llama 3 1 8 b`.
 *
 * @example
 * ```ts
 * tokenizeModelName('ollama/qwen2.5-coder:7b'); // ['qwen', '2', '5', 'coder', '7', 'b']
 * ```
 */
export function tokenizeModelName(id: string): string[] {
  const model = id.slice(id.lastIndexOf('/') + 1).toLowerCase();
  return model.match(/[a-z]+|\d+/g) ?? [];
}

/**
 * Tokens a model name may start with before the family name: cloud regions and vendor
 * prefixes, as in Bedrock's `us.anthropic.claude-sonnet-4-20250514-v1:0`.
 */
const SKIPPABLE_PREFIX = new Set([
  'us',
  'eu',
  'apac',
  'global',
  'anthropic',
  'openai',
  'google',
  'meta',
  'amazon',
  'mistralai',
]);

interface CompiledEntry {
  readonly entry: QualityEntry;
  readonly tokens: readonly string[];
}

/** Entries indexed by first token, longest pattern first. */
const INDEX: ReadonlyMap<string, readonly CompiledEntry[]> = (() => {
  const index = new Map<string, CompiledEntry[]>();
  for (const entry of QUALITY_TABLE) {
    const tokens = tokenizeModelName(entry.pattern);
    const first = tokens[0];
    if (first === undefined) continue;
    const list = index.get(first) ?? [];
    list.push({ entry, tokens });
    index.set(first, list);
  }
  for (const list of index.values()) list.sort((a, b) => b.tokens.length - a.tokens.length);
  return index;
})();

/**
 * Scores a model from the shipped table. Matching is on tokens (see
 * {@link tokenizeModelName}): a pattern matches when its tokens are a prefix of the model's
 * tokens, after skipping region/vendor prefixes. Anything after the pattern is ignored, so
 * dated and tagged variants (`-20250514`, `:free`, `-instruct`, `:7b`) score as their family;
 * the longest matching pattern wins. Unknown models get {@link DEFAULT_QUALITY} and
 * {@link DEFAULT_SPEED} with `scored: false`.
 *
 * @example
 * ```ts
 * lookupModelScore('openrouter/deepseek/deepseek-r1:free'); // { quality: 90, speed: 35, scored: true, matched: 'deepseek-r1' }
 * lookupModelScore('scripted/small');                        // { quality: 60, speed: 60, scored: false }
 * ```
 */
export function lookupModelScore(id: string): ModelScore {
  const tokens = tokenizeModelName(id);
  for (let start = 0; start < tokens.length; start++) {
    const candidates = INDEX.get(tokens[start] as string);
    if (candidates) {
      for (const { entry, tokens: pattern } of candidates) {
        if (matchesAt(tokens, start, pattern)) {
          return { quality: entry.quality, speed: entry.speed, scored: true, matched: entry.pattern };
        }
      }
    }
    if (!SKIPPABLE_PREFIX.has(tokens[start] as string)) break;
  }
  return { quality: DEFAULT_QUALITY, speed: DEFAULT_SPEED, scored: false };
}

function matchesAt(tokens: readonly string[], start: number, pattern: readonly string[]): boolean {
  if (start + pattern.length > tokens.length) return false;
  for (let i = 0; i < pattern.length; i++) if (tokens[start + i] !== pattern[i]) return false;
  return true;
}
