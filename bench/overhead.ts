/**
 * bench/overhead: N agents × 1 prompt through OpencodeFlow versus a hand-written
 * @opencode-ai/sdk script making the same calls (create session, prompt, wait for idle,
 * read messages, delete), on the same real OpenCode server and scripted LLM with no
 * added latency. Runs are interleaved so machine noise hits both sides alike. A third arm
 * runs the same flow with persistence off (`persist: false`), so the share of the flow's
 * default run-state saves shows beside the rest of its work.
 */
import { pathToFileURL } from 'node:url';
import { OpencodeFlow } from '../src/flow/index.js';
import { startScriptedLLM, startTestOpencode } from '../src/testing/index.js';
import { sdkBaseline as sdkArm } from './scale.js';

/** The bare-SDK arm (shared with bench/scale): same calls as the flow makes. */
async function sdkBaseline(url: string, n: number, task: string): Promise<void> {
  const run = await sdkArm(url, n, task, 600_000);
  if (run.failures > 0)
    throw new Error(`bare SDK arm: ${run.failures} agent(s) failed: ${[...run.errors.keys()].join('; ')}`);
}

async function viaFlow(flow: OpencodeFlow, n: number, task: string): Promise<void> {
  const agents = Array.from({ length: n }, (_, i) => `bench-${i}`);
  const report = await flow.execute({ task, agents, mode: 'parallel', maxConcurrent: n });
  if (report.status !== 'completed')
    throw new Error(`flow ${report.status}: ${report.results.find((r) => r.error)?.error}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function main({ rounds = 5, sizes = [1, 20] }: { rounds?: number; sizes?: number[] } = {}) {
  const llm = await startScriptedLLM({ fallback: { text: 'ok' } });
  const oc = await startTestOpencode({ baseURL: llm.baseURL });
  const options = { serverUrl: oc.url, model: 'scripted/small', maxConcurrent: 100, memory: false } as const;
  const flow = new OpencodeFlow(options);
  const unsaved = new OpencodeFlow({ ...options, persist: false });
  try {
    for (const f of [flow, unsaved])
      for (let i = 0; i < Math.max(...sizes); i++) await f.spawn({ name: `bench-${i}`, agent: 'build' });
    // Warm-up: the first prompt in a directory boots OpenCode's instance.
    await sdkBaseline(oc.url, 2, 'warm up');
    await viaFlow(flow, 2, 'warm up');
    await viaFlow(unsaved, 2, 'warm up');
    console.log('bench/overhead — OpencodeFlow vs bare SDK, same server, interleaved');
    console.log('agents  rounds  sdk median ms  flow median ms  ratio (goal ≤ 1.05)  flow, persist off ms  ratio');
    const out: Array<{ n: number; sdk: number; flow: number; ratio: number; unsaved: number; unsavedRatio: number }> =
      [];
    const arms = ['sdk', 'flow', 'unsaved'] as const;
    for (const n of sizes) {
      const ms: Record<(typeof arms)[number], number[]> = { sdk: [], flow: [], unsaved: [] };
      for (let r = 0; r < rounds; r++) {
        // Each arm takes each place in the order in turn.
        const order = arms.map((_, i) => arms[(i + r) % arms.length]!);
        for (const which of order) {
          const t0 = performance.now();
          if (which === 'sdk') await sdkBaseline(oc.url, n, `bench task ${r}`);
          else await viaFlow(which === 'flow' ? flow : unsaved, n, `bench task ${r}`);
          ms[which].push(performance.now() - t0);
        }
      }
      const [sdk, fl, un] = [median(ms.sdk), median(ms.flow), median(ms.unsaved)];
      const row = { n, sdk, flow: fl, ratio: fl / sdk, unsaved: un, unsavedRatio: un / sdk };
      out.push(row);
      console.log(
        `${String(n).padStart(6)}  ${String(rounds).padStart(6)}  ${sdk.toFixed(0).padStart(13)}  ${fl.toFixed(0).padStart(14)}  ${row.ratio.toFixed(3).padStart(18)}  ${un.toFixed(0).padStart(20)}  ${row.unsavedRatio.toFixed(3)}`,
      );
    }
    return out;
  } finally {
    await unsaved.shutdown();
    await flow.shutdown();
    await oc.stop();
    await llm.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
