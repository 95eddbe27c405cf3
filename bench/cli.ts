/**
 * bench/cli: cold start of `opencode-flow --help` / `--version` (the built dist/cli.js)
 * against `node -e 0` as the baseline, interleaved (goal ≤ 1.8×); with an embedded server, the
 * time to the first prompt reaching the model against the same done by hand (`opencode serve`,
 * session, prompt), measured in the same run (goal ≤ 1.15×); and the CLI itself twice in one project, the first
 * run starting a warm server and the second attaching to it: process start to the first
 * request at the model, second against first (goal: the second ≤ 2 s).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createOpencodeClient } from '@opencode-ai/sdk/v2';
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

/** Until the model has seen a prompt containing `text`; the time it took from `t0`. */
async function promptSeen(
  llm: Awaited<ReturnType<typeof startScriptedLLM>>,
  text: string,
  t0: number,
): Promise<number> {
  while (!llm.promptRequests().some((r) => JSON.stringify(r.body).includes(text))) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

/**
 * An embedded start against the same thing done by hand, each in a fresh project and HOME (a
 * first start in a HOME sets up OpenCode's storage; a first prompt in a project boots its
 * instance): `opencode serve` started, a session created and prompted, until the model sees
 * the prompt; and `flow.execute` on a flow that starts its own server, until the same.
 */
async function embeddedFirstPrompt(): Promise<{ bareMs: number; firstPromptMs: number }> {
  const llm = await startScriptedLLM({ fallback: { text: 'ok' } });
  const config = scriptedOpencodeConfig({ baseURL: llm.baseURL });
  const fresh = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocf-bench-cli-'));
    return { dir, env: isolatedOpencodeEnv(join(dir, 'home')) };
  };
  const bare: number[] = [];
  const viaFlow: number[] = [];
  try {
    for (let round = 0; round < 3; round++) {
      {
        const { dir, env } = await fresh();
        const t0 = performance.now();
        const server = await startOpencodeServer({ cwd: dir, env, config });
        try {
          const c = createOpencodeClient({ baseUrl: server.url });
          const session = await c.session.create({});
          const text = `bare first prompt ${round}`;
          await c.session.promptAsync({
            sessionID: session.data!.id,
            parts: [{ type: 'text', text }],
            model: { providerID: 'scripted', modelID: 'small' },
          });
          bare.push(await promptSeen(llm, text, t0));
        } finally {
          await server.stop();
          await rm(dir, { recursive: true, force: true });
        }
      }
      {
        const { dir, env } = await fresh();
        const flow = new OpencodeFlow({
          directory: dir,
          serverEnv: env,
          opencodeConfig: config,
          model: 'scripted/small',
          memory: false,
          persist: false,
        });
        const text = `flow first prompt ${round}`;
        const t0 = performance.now();
        const seen = promptSeen(llm, text, t0);
        try {
          await flow.execute({ task: text, agents: ['researcher'] });
          viaFlow.push(await seen);
        } finally {
          await flow.shutdown();
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
    return { bareMs: median(bare), firstPromptMs: median(viaFlow) };
  } finally {
    await llm.close();
  }
}

/** Runs the CLI in `project`; resolves with ms from spawn to the model's first request for `task`, and the exit. */
function cliFirstRequest(
  cli: string,
  project: string,
  env: NodeJS.ProcessEnv,
  task: string,
  llm: Awaited<ReturnType<typeof startScriptedLLM>>,
  warm = true,
) {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      // Node flags for the CLI runs, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (NODE_OPTIONS cannot carry those).
      ...(process.env.OCF_BENCH_CLI_ARGS ?? '').split(/\s+/).filter(Boolean),
      cli,
      '-a',
      'researcher',
      '--model',
      'scripted/small',
      '-t',
      task,
      ...(warm ? ['--keep-warm', '120'] : ['--no-keep-warm']),
      '--json',
    ],
    {
      cwd: project,
      env,
      stdio: 'ignore',
    },
  );
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const first = new Promise<number>((resolve, reject) => {
    const poll = setInterval(() => {
      if (llm.promptRequests().some((r) => JSON.stringify(r.body).includes(task))) {
        clearInterval(poll);
        resolve(performance.now() - t0);
      }
    }, 5);
    void exit.then((code) => {
      clearInterval(poll);
      reject(new Error(`CLI run ${task} exited (${code}) before its prompt reached the model`));
    });
  });
  return { first, exit };
}

/**
 * A run without a warm server, then the first run in a project from a fresh HOME with a plain
 * user config (it starts one), then three more that attach to it; then how many warm servers
 * are left (goal: one): one later run is a single sample on a noisy machine (1.2 to 2.2 s
 * seen for the same code), so the goal is read on their median.
 */
async function warmRuns(
  cli: string,
): Promise<{ coldMs: number; firstMs: number; attachedMs: number[]; warmServers: number }> {
  const llm = await startScriptedLLM({ fallback: { text: 'ok' } });
  const dir = await mkdtemp(join(tmpdir(), 'ocf-bench-warm-'));
  const project = join(dir, 'project');
  await mkdir(project);
  // OpenCode's config in each fresh HOME's opencode.json (an embedded run replaces
  // OPENCODE_CONFIG_CONTENT), plain as a user writes it: no "$schema", which OpenCode adds on
  // its first start (a warm key on the file's bytes then started a second server).
  const { $schema: _, ...plain } = scriptedOpencodeConfig({ baseURL: llm.baseURL });
  const home = async (name: string) => {
    const iso = isolatedOpencodeEnv(join(dir, name));
    await mkdir(join(iso.XDG_CONFIG_HOME!, 'opencode'), { recursive: true });
    await writeFile(join(iso.XDG_CONFIG_HOME!, 'opencode', 'opencode.json'), JSON.stringify(plain));
    return iso;
  };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(await home('home')),
    OPENCODE_CONFIG_CONTENT: undefined,
    OPENCODE_FLOW_MEMORY: `file:${join(dir, 'memory.json')}`,
    OPENCODE_SERVER_URL: '',
    NO_COLOR: '1',
  };
  try {
    // The run as it was before warm servers: its own embedded server, stopped with it. Its own
    // HOME, so OpenCode's first start in it is not paid by the runs below, nor theirs by it.
    const coldEnv = { ...env, ...(await home('home-cold')) };
    const cold = cliFirstRequest(cli, project, coldEnv, 'BENCH-NO-WARM-RUN', llm, false);
    const coldMs = await cold.first;
    await cold.exit;
    const one = cliFirstRequest(cli, project, env, 'BENCH-FIRST-RUN', llm);
    const firstMs = await one.first;
    await one.exit;
    const attachedMs: number[] = [];
    for (const n of [2, 3, 4]) {
      const run = cliFirstRequest(cli, project, env, `BENCH-RUN-${n}`, llm);
      attachedMs.push(await run.first);
      await run.exit;
    }
    const status = execFileSync(process.execPath, [cli, 'server', 'status', '--json'], { cwd: project, env });
    const warmServers = (JSON.parse(status.toString()) as unknown[]).length;
    return { coldMs, firstMs, attachedMs, warmServers };
  } finally {
    try {
      execFileSync(process.execPath, [cli, 'server', 'stop'], { cwd: project, env, stdio: 'ignore' });
    } catch {
      /* reported by the run itself */
    }
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
  const goal = (ok: boolean) => (ok ? 'goal met' : 'goal NOT met');
  const ratio = (x: number[]) => median(x) / median(base);
  console.log('bench/cli — cold start (median of', rounds, 'interleaved runs; goal ≤ 1.8× node -e 0)');
  console.log(`node -e 0                ${median(base).toFixed(0).padStart(5)} ms  (baseline)`);
  console.log(
    `opencode-flow --help     ${median(help).toFixed(0).padStart(5)} ms  ratio ${ratio(help).toFixed(2)}  ${goal(ratio(help) <= 1.8)}`,
  );
  console.log(
    `opencode-flow --version  ${median(version).toFixed(0).padStart(5)} ms  ratio ${ratio(version).toFixed(2)}  ${goal(ratio(version) <= 1.8)}`,
  );
  const e = await embeddedFirstPrompt();
  console.log(
    `embedded start → first prompt at the model: by hand (opencode serve, session, prompt) ${e.bareMs.toFixed(0)} ms; a flow that starts its own server ${e.firstPromptMs.toFixed(0)} ms (ratio ${(e.firstPromptMs / e.bareMs).toFixed(2)}; goal ≤ 1.15)`,
  );
  const w = await warmRuns(cli);
  console.log(
    `CLI run, --no-keep-warm (own server, as before): process start → first request at the model ${w.coldMs.toFixed(0)} ms (baseline)`,
  );
  console.log(
    `CLI first run in a project (starts a warm server): process start → first request at the model ${w.firstMs.toFixed(0)} ms  ratio ${(w.firstMs / w.coldMs).toFixed(2)}`,
  );
  const later = median(w.attachedMs);
  console.log(
    `CLI runs 2-4, same project (they attach to it):    process start → first request at the model ${w.attachedMs.map((x) => x.toFixed(0)).join(', ')} ms, median ${later.toFixed(0)} ms  ratio ${(later / w.firstMs).toFixed(2)} of the first  ${goal(later <= 2000)} (≤ 2 s)`,
  );
  console.log(`warm servers left after runs 1-4 from a fresh HOME: ${w.warmServers}  ${goal(w.warmServers === 1)} (1)`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
