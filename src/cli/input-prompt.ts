import type { OpencodeFlow } from '../flow/index.js';
import type { InputRequest } from '../../machines/input-policy.js';

/** Stops a live display while a question is on screen. */
export interface Pausable {
  pause?(): void;
  resume?(): void;
}

/** One line describing what an agent waits on. */
export function describeRequest(agent: string, r: InputRequest): string {
  if (r.kind === 'permission') return `${agent} asks to use ${r.permission}: ${r.patterns.join(' ') || '(no pattern)'}`;
  return `${agent} asks: ${r.questions.map((q) => q.question).join(' / ')}`;
}

/**
 * On a terminal, answer agents' permission requests and questions by asking the person
 * (one at a time, with the live display paused), through @inquirer/prompts on stderr so
 * stdout keeps only the report.
 *
 * @example
 * ```ts
 * askOnTerminal(flow, progress);
 * ```
 */
export function askOnTerminal(flow: OpencodeFlow, display: Pausable = {}): void {
  let queue = Promise.resolve();
  flow.on('agent.input_required', (e) => {
    queue = queue.then(async () => {
      const { select, checkbox } = await import('@inquirer/prompts');
      const ctx = { output: process.stderr, clearPromptOnDone: true };
      display.pause?.();
      try {
        if (e.request.kind === 'permission') {
          const answer = await select(
            {
              message: describeRequest(e.agent, e.request),
              choices: [
                { name: 'Allow once', value: 'once' as const },
                { name: 'Allow always (this session)', value: 'always' as const },
                { name: 'Reject', value: 'reject' as const },
              ],
            },
            ctx,
          );
          flow.reply(e.request.id, answer);
        } else {
          const answers: string[][] = [];
          for (const q of e.request.questions) {
            const choices = q.options.map((o) => ({
              name: o.description ? `${o.label} — ${o.description}` : o.label,
              value: o.label,
            }));
            if (q.multiple) answers.push(await checkbox({ message: `${e.agent}: ${q.question}`, choices }, ctx));
            else answers.push([await select({ message: `${e.agent}: ${q.question}`, choices }, ctx)]);
          }
          flow.reply(e.request.id, answers);
        }
      } catch {
        // The prompt was closed (Ctrl-C, request gone): the agent's input timeout decides.
      } finally {
        display.resume?.();
      }
    });
  });
}
