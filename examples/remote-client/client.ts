/**
 * An app in another process driving a remote `opencode-flow serve` with the typed client:
 * start a flow, print its agents' output as it streams, answer their permission requests
 * (`--allow bash,edit`: once; anything else rejected), then print the outcome as JSON.
 *
 *   OPENCODE_FLOW_TOKEN=... npx tsx examples/remote-client/client.ts --url http://127.0.0.1:5000 \
 *     --task "Review src/" --agent reviewer [--agent security-auditor | --agent '{"name":...}'] [--allow bash]
 *
 * Exit 0 when the flow completed, 1 when it did not or the server refused (the API's code
 * is printed), 2 on bad arguments.
 */
import { parseArgs } from 'node:util';
import { apiErrorCode, FlowClient, FlowError, type CreateFlowRequest } from 'opencode-flow/client';

const USAGE = 'usage: client.ts --url URL --task TEXT --agent NAME|JSON [--agent ...] [--allow PERMISSION,...]';

function args() {
  try {
    const { values } = parseArgs({
      options: {
        url: { type: 'string', default: process.env.OPENCODE_FLOW_URL },
        task: { type: 'string' },
        agent: { type: 'string', multiple: true },
        allow: { type: 'string', default: '' },
      },
    });
    if (!values.url) throw new Error('--url: expected the serve URL (or OPENCODE_FLOW_URL)');
    if (!values.task) throw new Error('--task: expected the task');
    if (!values.agent?.length) throw new Error('--agent: expected at least one agent name');
    // A name, or an inline agent as JSON (`{"name":"runner","agent":"build","permissions":{"bash":"ask"}}`).
    const agents: CreateFlowRequest['agents'] = values.agent.map((a, i) => {
      if (!a.trimStart().startsWith('{')) return a;
      try {
        return JSON.parse(a) as Exclude<CreateFlowRequest['agents'][number], string>;
      } catch (e) {
        throw new Error(`--agent #${i + 1}: expected a name or a JSON object: ${e instanceof Error ? e.message : e}`);
      }
    });
    return { url: values.url, task: values.task, agents, allow: values.allow.split(',').filter(Boolean) };
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    process.exit(2);
  }
}

const { url, task, agents, allow } = args();

async function main(): Promise<number> {
  let client: FlowClient;
  try {
    client = new FlowClient({ baseUrl: url, token: process.env.OPENCODE_FLOW_TOKEN });
  } catch (e) {
    console.error(`--url: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const { id } = await client.createFlow({ task, agents });
  console.error(`flow ${id} started`);
  for await (const e of client.events(id)) {
    if (e.type === 'agent.delta') process.stdout.write(`[${e.data.agent}] ${e.data.text}\n`);
    if (e.type === 'agent.input_required') {
      const { request } = e.data;
      // Questions are not answered here; a permission is, when --allow names it.
      const answer = request.kind === 'permission' && allow.includes(request.permission) ? 'once' : 'reject';
      await client.reply(id, request.id, answer);
      console.error(
        `${e.data.agent} asked for ${request.kind === 'permission' ? request.permission : 'an answer'}: ${answer}`,
      );
    }
    if (e.type === 'flow.done') {
      const r = e.data;
      console.log(JSON.stringify({ id, status: r.status, cost: r.cost.total, agents: r.results.map((a) => a.agent) }));
      return r.status === 'completed' ? 0 : 1;
    }
  }
  return 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof FlowError) {
      console.error(`opencode-flow serve refused: ${e.message} (${apiErrorCode(e) ?? e.code})`);
      process.exit(1);
    }
    console.error(e);
    process.exit(1);
  },
);
