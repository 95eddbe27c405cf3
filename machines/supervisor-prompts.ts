import type { AgentTask } from './agent.js';
import type { SupervisorContext } from './supervisor-types.js';

/** The texts the supervisor sends its agents: tasks, context from earlier agents, re-plans and the aggregation. */

/** The task text an agent receives: in sequential mode, prefixed with the earlier outputs. */
export function taskFor(
  context: Pick<SupervisorContext, 'mode' | 'task' | 'agents' | 'results'> & {
    triggeredBy?: SupervisorContext['triggeredBy'];
  },
  name: string,
): AgentTask {
  const sub = (context as Partial<SupervisorContext>).subtaskText?.[name];
  if (sub !== undefined) return { id: name, text: sub };
  const trigger = context.triggeredBy?.[name];
  if (trigger) {
    return {
      id: name,
      text: `${context.task}\n\n# Started because shared memory key "${trigger.key}" was written\n\n${JSON.stringify(trigger.value, null, 2)}`,
    };
  }
  if (context.mode !== 'sequential') return { id: `${name}`, text: context.task };
  const before: string[] = [];
  for (const a of context.agents) {
    if (a.name === name) break;
    const r = context.results[a.name];
    if (r?.status === 'done') before.push(`## Output of ${a.name}\n\n${r.output}`);
  }
  if (before.length === 0) return { id: name, text: context.task };
  return {
    id: name,
    text: `${context.task}\n\n# Context from earlier agents in this flow\n\n${before.join('\n\n')}`,
  };
}
