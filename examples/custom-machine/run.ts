/**
 * Run the second-opinion machine against an OpenCode server:
 *   npx tsx examples/custom-machine/run.ts --server http://127.0.0.1:4096 --change "diff or description"
 * Without --server an embedded `opencode serve` is started (your providers).
 */
import { parseArgs } from 'node:util';
import { OpencodeFlow } from 'opencode-flow';
import { secondOpinionMachine } from './machine.js';

const { values } = parseArgs({
  options: { server: { type: 'string' }, change: { type: 'string' }, model: { type: 'string' } },
});
if (!values.change) {
  console.error('usage: run.ts --change "<the change to review>" [--server URL] [--model provider/model]');
  process.exit(2);
}
const flow = new OpencodeFlow({ serverUrl: values.server, model: values.model, memory: false });
flow.on('agent.state', (e) => console.error(`[${e.agent}] ${e.state}`));
try {
  const { output, cost } = await flow.run(secondOpinionMachine, {
    change: values.change,
    reviewer: await flow.agentSpec('reviewer'),
    architect: await flow.agentSpec('architect'),
  });
  console.log(JSON.stringify({ ...output, cost: cost.total }));
} finally {
  await flow.shutdown();
}
