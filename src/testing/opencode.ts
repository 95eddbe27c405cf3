import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { sessionPluginUrl } from '../memory/mcp/identity.js';
import { markOpencodePluginDepsInstalled } from '../opencode/plugin-deps.js';

/** The OpenCode version this package pins (its `opencode-ai` dependency). */
const OPENCODE_VERSION = '1.18.33';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOpencodeServer, type OpencodeServer } from '../opencode/server.js';

/** A scripted model offered by the `scripted` provider, with its price (USD per 1M tokens). */
export interface ScriptedModel {
  id: string;
  cost?: { input: number; output: number };
  context?: number;
  /** Whether the model can call tools (OpenCode's `tool_call`). Default true. */
  toolCall?: boolean;
}

/** Default scripted models: a cheap, a mid and a flagship tier, so routing has choices. */
export const DEFAULT_SCRIPTED_MODELS: ScriptedModel[] = [
  { id: 'small', cost: { input: 0.1, output: 0.4 }, context: 128_000 },
  { id: 'medium', cost: { input: 1, output: 4 }, context: 200_000 },
  { id: 'large', cost: { input: 3, output: 15 }, context: 200_000 },
];

export interface ScriptedProviderOptions {
  /** The scripted LLM's base URL (from {@link startScriptedLLM}). */
  baseURL: string;
  /** Provider id. Default `scripted`. */
  providerID?: string;
  models?: ScriptedModel[];
  /** Default model id (without provider). Default: the first model. */
  defaultModel?: string;
}

/**
 * OpenCode config that routes every model call to a scripted LLM through OpenCode's own
 * custom-provider mechanism (`@ai-sdk/openai-compatible`), with the built-in providers
 * disabled, snapshots and sharing off.
 *
 * @example
 * ```ts
 * const config = scriptedOpencodeConfig({ baseURL: llm.baseURL });
 * const server = await startOpencodeServer({ config, env: { HOME: tmpHome } });
 * ```
 */
export function scriptedOpencodeConfig(opts: ScriptedProviderOptions): Record<string, unknown> {
  const providerID = opts.providerID ?? 'scripted';
  const models = opts.models ?? DEFAULT_SCRIPTED_MODELS;
  const def = opts.defaultModel ?? models[0]?.id ?? 'small';
  return {
    $schema: 'https://opencode.ai/config.json',
    autoupdate: false,
    share: 'disabled',
    snapshot: false,
    enabled_providers: [providerID],
    model: `${providerID}/${def}`,
    small_model: `${providerID}/${def}`,
    provider: {
      [providerID]: {
        npm: '@ai-sdk/openai-compatible',
        name: 'Scripted',
        options: { baseURL: opts.baseURL, apiKey: 'scripted' },
        models: Object.fromEntries(
          models.map((m) => [
            m.id,
            {
              name: m.id,
              tool_call: m.toolCall ?? true,
              temperature: true,
              cost: m.cost ?? { input: 0.1, output: 0.4 },
              limit: { context: m.context ?? 128_000, output: 16_000 },
            },
          ]),
        ),
      },
    },
  };
}

/**
 * Environment that isolates an OpenCode process in `home` and keeps it offline. OpenCode's
 * plugin package is recorded as installed there, so a server with plugins (opencode-flow's
 * session plugin) starts without npm.
 */
export function isolatedOpencodeEnv(home: string): Record<string, string> {
  markOpencodePluginDepsInstalled(join(home, '.config', 'opencode'), OPENCODE_VERSION);
  return {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_STATE_HOME: join(home, '.local', 'state'),
    OPENCODE_DISABLE_MODELS_FETCH: '1',
    OPENCODE_DISABLE_AUTOUPDATE: '1',
    OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
    OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
  };
}

export interface TestOpencodeOptions extends Partial<ScriptedProviderOptions> {
  /** Extra OpenCode config merged over the scripted provider config (shallow per key). */
  config?: Record<string, unknown>;
  /** Basic-auth password for the server. */
  password?: string;
  /** Print the server's output to stderr (debugging). */
  verbose?: boolean;
  /** Give up when the server is not ready after this long (ms). Default 90 s: CI machines are busy. */
  startTimeoutMs?: number;
}

/** A real `opencode serve` in its own temp HOME and project dir. */
export interface TestOpencode {
  server: OpencodeServer;
  url: string;
  /** Temp root; `home` and `project` live inside it. */
  root: string;
  home: string;
  /** The server's working directory (a fresh empty project). */
  project: string;
  /** The config the server was started with. */
  config: Record<string, unknown>;
  /** Environment that isolates other OpenCode-related processes the same way. */
  env: Record<string, string>;
  /** Stop the server and delete the temp dir. */
  stop(): Promise<void>;
}

/**
 * Start a real `opencode serve` (the pinned binary) in a temp directory with its own
 * HOME, on a free loopback port, wired to a scripted LLM. One per test file is plenty.
 *
 * @example
 * ```ts
 * const llm = await startScriptedLLM({ rules: [{ reply: { text: 'hi' } }] });
 * const oc = await startTestOpencode({ baseURL: llm.baseURL });
 * const flow = new OpencodeFlow({ serverUrl: oc.url });
 * // ...
 * await flow.shutdown(); await oc.stop(); await llm.close();
 * ```
 */
export async function startTestOpencode(opts: TestOpencodeOptions & { baseURL: string }): Promise<TestOpencode> {
  const root = await mkdtemp(join(tmpdir(), 'opencode-flow-test-'));
  const home = join(root, 'home');
  const project = join(root, 'project');
  await mkdir(home, { recursive: true });
  await mkdir(project, { recursive: true });
  // opencode-flow's session plugin, as a remote server running flows should have it.
  const config = {
    ...scriptedOpencodeConfig(opts as ScriptedProviderOptions),
    plugin: [sessionPluginUrl()],
    ...opts.config,
  };
  const env = isolatedOpencodeEnv(home);
  let server: OpencodeServer;
  try {
    server = await startOpencodeServer({
      cwd: project,
      config,
      env,
      password: opts.password,
      startTimeoutMs: opts.startTimeoutMs ?? 90_000,
      log: opts.verbose ? (l) => process.stderr.write(`[opencode] ${l}\n`) : undefined,
    });
  } catch (e) {
    await rm(root, { recursive: true, force: true });
    throw e;
  }
  return {
    server,
    url: server.url,
    root,
    home,
    project,
    config,
    env,
    async stop() {
      await server.stop();
      await rm(root, { recursive: true, force: true }).catch(() => {});
    },
  };
}
