/**
 * bench/cli: cold start of `opencode-flow --help` / `--version` (the built dist/cli.js)
 * against `node -e 0` as the baseline, interleaved; and, with an embedded server, the time
 * from `flow.start()` to the first prompt reaching the model against the server's own
 * start-up time, measured in the same run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OpencodeFlow } from '../src/flow/index.js';
import { startOpencodeServer } from '../src/opencode/server.js';
import { isolatedOpencodeEnv, scriptedOpencodeConfig, startScriptedLLM } from '../src/testing/index.js';

const root = resolve(import.meta.dirname, '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(args: string[]): number {
  const t0 = performance.now();
  execFileSync(process.execPath, args, { cwd: root, stdio: 'ignore' });
  return performance.now() - t0;
}

async function embeddedFirstPrompt(): Promise<{ serverMs: number; firstPromptMs: number }> {
  const llm = await startScriptedLLM({ fallback: { text: 'ok' } });
  const dir = await mkdtemp(join(tmpdir(), 'ocf-bench-cli-'));
  try {
    const env = isolatedOpencodeEnv(join(dir, 'home'));
    const config = scriptedOpencodeConfig({ baseURL: llm.baseURL });
    // Baseline: the bare server's start-up.
    const t0 = performance.now();
    const server = await startOpencodeServer({ cwd: dir, env, config });
    const serverMs = performance.now() - t0;
    await server.stop();
    // The flow: start its own server, then prompt; stop the clock at the model's first request.
    const flow = new OpencodeFlow({
      directory: dir,
      serverEnv: env,
      opencodeConfig: config,
      model: 'scripted/small',
      memory: false,
      persist: false,
    });
    const t1 = performance.now();
    let firstPromptMs = 0;
    const poll = setInterval(() => {
      if (!firstPromptMs && llm.promptRequests().length > 0) firstPromptMs = performance.now() - t1;
    }, 5);
    await flow.execute({ task: 'first prompt', agents: ['researcher'] });
    clearInterval(poll);
    await flow.shutdown();
    return { serverMs, firstPromptMs };
  } finally {
    await llm.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function main({ rounds = 10 }: { rounds?: number } = {}) {
  const cli = join(root, 'dist/cli.js');
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run npm run build first');
  const base: number[] = [];
  const help: number[] = [];
  const version: number[] = [];
  for (let i = 0; i < rounds; i++) {
    base.push(time(['-e', '0']));
    help.push(time([cli, '--help']));
    version.push(time([cli, '--version']));
  }
  console.log('bench/cli — cold start (median of', rounds, 'interleaved runs; goal < 300 ms)');
  console.log(`node -e 0                ${median(base).toFixed(0).padStart(5)} ms  (baseline)`);
  console.log(
    `opencode-flow --help     ${median(help).toFixed(0).padStart(5)} ms  ratio ${(median(help) / median(base)).toFixed(2)}`,
  );
  console.log(
    `opencode-flow --version  ${median(version).toFixed(0).padStart(5)} ms  ratio ${(median(version) / median(base)).toFixed(2)}`,
  );
  const e = await embeddedFirstPrompt();
  console.log(
    `embedded: server start ${e.serverMs.toFixed(0)} ms; flow start → first prompt at the model ${e.firstPromptMs.toFixed(0)} ms (ratio ${(e.firstPromptMs / e.serverMs).toFixed(2)})`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
