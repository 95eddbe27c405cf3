import { fullModelId } from '../config/agent.js';
import type { OpencodeFlow } from '../flow/index.js';
import type { FlowPlan, FlowRecord } from './flow-record.js';
import type { CreateFlowBody } from './flow-request.js';

/**
 * What the request says about a flow's models and budget, read the way the library decides:
 * an agent's own model wins, then the request's `model`, then the agent's spec with the
 * host's default (`flow.agentSpec`); an explicit model always wins over routing. Agents
 * left to the router are absent: their model is known when they start.
 *
 * (One case is shown as the request's `model` though the library prefers the agent's own:
 * a project agent file that names a model, in a request that also gives `model`. The
 * agent's first event corrects it. The library's `flow.started` event carrying the models
 * it chose would remove the guess.)
 *
 * @example
 * ```ts
 * rec.setPlan(await planOf(flow, rec, body)); // { models: { scout: 'anthropic/claude-sonnet-4' }, maxCost: 0.5 }
 * ```
 */
export async function planOf(flow: OpencodeFlow, rec: FlowRecord, body: CreateFlowBody): Promise<FlowPlan> {
  const models: Record<string, string> = {};
  for (const a of body.agents) {
    const name = typeof a === 'string' ? a : a.name;
    const own = typeof a === 'string' ? undefined : fullModelId(a);
    let model = own ?? body.model;
    if (!model) {
      try {
        model = (await flow.agentSpec(rec.runName(name))).model;
      } catch {
        model = undefined; // not resolvable here: the agent's events will tell
      }
    }
    if (model) models[name] = model;
  }
  return { models, ...(body.maxCost !== undefined ? { maxCost: body.maxCost } : {}) };
}
