#!/usr/bin/env node
import { Command } from 'commander';
import { addRunFlags, normaliseRunOptions, runFlow, RunOptionsSchema } from './run.js';
import { serveCommand } from './serve.js';
import { handleError } from './handle-error.js';
import { zodToFlowError } from '../config/errors.js';

import { packageInfo } from '../package-root.js';

const { version } = packageInfo();

/** Build the CLI program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('opencode-flow')
    .description('Run multi-agent flows on OpenCode: agents as XState actors, coordinated by a supervisor.')
    .version(version, '-v, --version')
    .exitOverride()
    .showHelpAfterError('(run opencode-flow --help for usage)')
    .configureOutput({ outputError: (s, write) => write(`opencode-flow: ${s.replace(/^error: /, 'error: ')}`) });
  addRunFlags(program);
  program.addCommand(serveCommand());
  program.addHelpText(
    'after',
    `
Examples:
  $ opencode-flow --agents researcher,coder,reviewer --task "Design a REST API for todos"
  $ opencode-flow --agents coder,reviewer --mode sequential --task "Add input validation" --stream
  $ opencode-flow --server http://127.0.0.1:4096 --agents reviewer --task "Review src/" --json

Exit codes: 0 completed, 1 flow failed, 2 usage or config error, 130 cancelled.`,
  );
  program.action(async (raw: Record<string, unknown>) => {
    if (raw.agents === undefined && raw.task === undefined) {
      program.outputHelp();
      return;
    }
    const parsed = RunOptionsSchema.safeParse(normaliseRunOptions(raw));
    if (!parsed.success) throw zodToFlowError(parsed.error, 'options');
    process.exitCode = await runFlow(parsed.data);
  });
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch(handleError);
