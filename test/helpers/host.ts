import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { OpencodeFlow, type FlowOptions } from '../../src/flow/index.js';
import {
  isolatedOpencodeEnv,
  scriptedOpencodeConfig,
  startScriptedLLM,
  startTestOpencode,
  type ScriptedLLM,
  type ScriptedLLMOptions,
  type TestOpencode,
  type TestOpencodeOptions,
} from '../../src/testing/index.js';

/** What a test asks of a host: any `OpencodeFlow` option, plus `embedded`. */
export type HostOptions = FlowOptions & {
  /**
   * Embed the host's own `opencode serve` (in its temp dir, isolated HOME, wired to the
   * file's scripted LLM) instead of connecting to the file's shared server.
   */
  embedded?: boolean;
};

/** Builds a host; given a function, that function gets the host's own fresh temp dir. */
export type HostFactory = (options?: HostOptions | ((dir: string) => HostOptions)) => OpencodeFlow;

export interface FlowHosts {
  /** The file's scripted LLM. */
  llm: ScriptedLLM;
  /** The file's real `opencode serve` (absent with `server`, the file's own, or `shared: false`). */
  oc: TestOpencode;
  /**
   * A new `OpencodeFlow` on the file's real server: model `scripted/small`, memory off and
   * its runs stored in its own temp dir (never the working tree), unless `options` says
   * otherwise. Built in a test, it is shut down after that test; built in a `beforeAll`,
   * after the file. The test may shut it down itself (shutdown is idempotent).
   */
  host: HostFactory;
}

/**
 * The one fixture that builds `OpencodeFlow` hosts for tests (issue 22): one scripted LLM
 * and one real `opencode serve` for the whole file (or `server`, a file's own), a temp dir
 * per host and the cleanup. Only the model is scripted; OpenCode is the real binary.
 *
 * @example
 * ```ts
 * const env = useFlowHosts();
 * it('runs', async () => {
 *   const flow = env.host({ persist: false });
 *   expect((await flow.execute({ task: 'T', agents: ['coder'] })).status).toBe('completed');
 * });
 * ```
 */
export function useFlowHosts(
  opts: {
    llm?: ScriptedLLMOptions;
    opencode?: Omit<TestOpencodeOptions, 'baseURL'>;
    /** Start no shared server: every host of the file is `embedded`. */
    shared?: false;
    /** The file's own server (and LLM) instead of one started here. */
    server?: () => { url: string; llm?: ScriptedLLM };
    /** Options every host of the file gets (a test's own options win). */
    defaults?: FlowOptions;
  } = {},
): FlowHosts {
  const env = {} as FlowHosts;
  let root = '';
  let count = 0;
  let inTest = false;
  const perTest = new Set<OpencodeFlow>();
  const perFile = new Set<OpencodeFlow>();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ocf-host-'));
    if (opts.server) {
      const own = opts.server();
      if (own.llm) env.llm = own.llm;
      return;
    }
    env.llm = await startScriptedLLM(opts.llm);
    if (opts.shared !== false) env.oc = await startTestOpencode({ ...opts.opencode, baseURL: env.llm.baseURL });
  });
  beforeEach(() => {
    inTest = true;
  });
  afterEach(async () => {
    inTest = false;
    const hosts = [...perTest];
    perTest.clear();
    await Promise.all(hosts.map((f) => f.shutdown()));
  });
  afterAll(async () => {
    await Promise.all([...perFile, ...perTest].map((f) => f.shutdown()));
    await env.oc?.stop();
    if (!opts.server) await env.llm?.close();
    if (root) await rm(root, { recursive: true, force: true }).catch(() => {});
  });

  env.host = (options = {}) => {
    const dir = join(root, `host-${++count}`);
    mkdirSync(dir, { recursive: true });
    const { embedded = opts.shared === false, ...given } = {
      ...opts.defaults,
      ...(typeof options === 'function' ? options(dir) : options),
    };
    const where: FlowOptions = embedded
      ? {
          directory: dir,
          serverEnv: isolatedOpencodeEnv(join(dir, 'home')),
          opencodeConfig: scriptedOpencodeConfig({ baseURL: env.llm.baseURL }),
        }
      : { serverUrl: opts.server ? opts.server().url : env.oc.url };
    // The store: the test's, else this host's temp dir (the default would be the working tree).
    const store: FlowOptions =
      given.store !== undefined || given.flowsDir !== undefined || given.directory !== undefined
        ? {}
        : { flowsDir: join(dir, 'flows') };
    const flow = new OpencodeFlow({ model: 'scripted/small', memory: false, ...where, ...store, ...given });
    (inTest ? perTest : perFile).add(flow);
    return flow;
  };
  return env;
}
