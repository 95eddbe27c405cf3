import Table from 'cli-table3';
import type { FlowReport } from '../flow/index.js';

/** Format USD with enough digits for cheap models. */
export function usd(n: number): string {
  if (n === 0) return '$0';
  if (n < 0.01) return `$${n.toFixed(6)}`;
  return `$${n.toFixed(4)}`;
}

/**
 * Prints streamed deltas as whole lines prefixed by the agent's name, so parallel agents'
 * output interleaves by line, never mid-line.
 */
export class DeltaPrinter {
  private readonly buffers = new Map<string, string>();
  constructor(private readonly write: (s: string) => void) {}

  push(agent: string, text: string) {
    const buf = (this.buffers.get(agent) ?? '') + text;
    const lines = buf.split('\n');
    this.buffers.set(agent, lines.pop() ?? '');
    for (const line of lines) this.write(`[${agent}] ${line}\n`);
  }

  flush(agent?: string) {
    for (const [name, rest] of this.buffers) {
      if (agent && name !== agent) continue;
      if (rest) this.write(`[${name}] ${rest}\n`);
      this.buffers.set(name, '');
    }
  }
}

/** What a report's `unsaved` says, in one line. */
export function unsavedLine(u: NonNullable<FlowReport['unsaved']>): string {
  const n = `${u.failures} save${u.failures > 1 ? 's' : ''}`;
  return u.reportSaved
    ? `warning: ${n} of this flow's state to ${u.store} failed (${u.error}); its final report was stored`
    : `warning: this flow is not saved in ${u.store}: ${n} failed (${u.error}); \`flows\`, \`resume\` and \`cost\` will not see its end`;
}

/** The human-readable report: each agent's output, then a cost table. */
export function formatReport(report: FlowReport, { outputs = true }: { outputs?: boolean } = {}): string {
  const parts: string[] = [];
  if (outputs) {
    for (const r of report.results) {
      parts.push(`── ${r.agent} · ${r.model || 'default model'} · ${r.status}${r.error ? `: ${r.error}` : ''}`);
      if (r.output) parts.push(r.output.trimEnd());
      parts.push('');
    }
  }
  const table = new Table({
    head: ['agent', 'model', 'status', 'tokens in/out', 'cost', 'attempts'],
    style: { head: [], border: [] },
  });
  for (const r of report.results) {
    table.push([
      r.agent,
      r.model,
      r.status,
      `${r.tokens.input}/${r.tokens.output}`,
      usd(r.cost),
      String(r.attempts.length),
    ]);
  }
  table.push(['total', '', report.status, '', usd(report.cost.total), '']);
  parts.push(table.toString());
  const models = Object.entries(report.cost.byModel);
  if (models.length > 1) parts.push(`by model: ${models.map(([m, c]) => `${m} ${usd(c)}`).join(', ')}`);
  parts.push(
    `flow ${report.flowId} ${report.status}${report.reason ? ` (${report.reason})` : ''} in ${(report.durationMs / 1000).toFixed(1)} s`,
  );
  if (report.unsaved) parts.push(unsavedLine(report.unsaved));
  return parts.join('\n') + '\n';
}
