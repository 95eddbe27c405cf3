/**
 * bench/snapshot: bytes of a run's stored snapshot per agent, for flows of inline agents with
 * long prompts (real OpenCode, scripted model, the file store). The baseline is the same
 * snapshot as JSON writes it without packing (what was stored before each long string was
 * kept once), measured on the same run; the ratio is stored / baseline.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OpencodeFlow } from '../src/flow/index.js';
import { unpackSnapshot } from '../src/store/pack.js';
import { startScriptedLLM, startTestOpencode } from '../src/testing/index.js';

export async function main({
  cases = [
    { agents: 1, promptKB: 900 },
    { agents: 5, promptKB: 100 },
    { agents: 20, promptKB: 20 },
  ],
}: { cases?: Array<{ agents: number; promptKB: number }> } = {}) {
  const llm = await startScriptedLLM({ fallback: { text: 'ok' } });
  const oc = await startTestOpencode({ baseURL: llm.baseURL });
  const dir = await mkdtemp(join(tmpdir(), 'ocf-bench-snapshot-'));
  const flow = new OpencodeFlow({ serverUrl: oc.url, model: 'scripted/small', memory: false, flowsDir: dir });
  try {
    console.log('bench/snapshot — stored snapshot bytes per agent, packed vs plain JSON of the same snapshot');
    console.log('agents  prompt KB  plain bytes/agent  stored bytes/agent  ratio  plain / prompt  stored / prompt');
    const out = [];
    for (const c of cases) {
      const agents = Array.from({ length: c.agents }, (_, i) => ({
        name: `inline-${c.agents}-${i}`,
        agent: 'build',
        systemPrompt: `You are inline agent ${i}.\n${'Follow the house rules. '.repeat((c.promptKB * 1024) / 24)}`,
      }));
      const report = await flow.execute({ task: 'snapshot bench task', agents, mode: 'parallel' });
      if (report.status !== 'completed') throw new Error(`flow ${report.status}: ${report.reason}`);
      const stored = await readFile(join(dir, report.flowId, 'snapshot.json'), 'utf8');
      const plain = JSON.stringify(unpackSnapshot(JSON.parse(stored)));
      const promptBytes = Buffer.byteLength(agents[0]!.systemPrompt);
      const row = {
        agents: c.agents,
        promptKB: c.promptKB,
        plainPerAgent: Buffer.byteLength(plain) / c.agents,
        storedPerAgent: Buffer.byteLength(stored) / c.agents,
      };
      out.push(row);
      console.log(
        `${String(c.agents).padStart(6)}  ${String(c.promptKB).padStart(9)}  ${row.plainPerAgent.toFixed(0).padStart(17)}  ${row.storedPerAgent.toFixed(0).padStart(18)}  ${(row.storedPerAgent / row.plainPerAgent).toFixed(3)}  ${(row.plainPerAgent / promptBytes).toFixed(2).padStart(14)}  ${(row.storedPerAgent / promptBytes).toFixed(2).padStart(15)}`,
      );
    }
    return out;
  } finally {
    await flow.shutdown();
    await oc.stop();
    await llm.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
