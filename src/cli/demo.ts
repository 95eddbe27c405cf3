import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { FlowError, FlowErrorCode } from '../errors.js';
import { examplesDir } from './run.js';

/** The label every demo output carries: nothing here is a real model's answer. */
export const DEMO_LABEL = 'opencode-flow demo · scripted model — no API key used';

/**
 * `opencode-flow demo`: the code-review example flow (researcher, then reviewer, routed by
 * cost) on a copy of its bundled sample, run by a real embedded OpenCode server whose only
 * provider is a scripted model served in this process. Needs no API key and no network;
 * OpenCode gets its own temporary HOME, so the user's OpenCode setup is neither read nor
 * touched. Everything it prints is labelled as scripted.
 *
 * @example
 * ```ts
 * program.addCommand(demoCommand());
 * // $ npx opencode-flow demo
 * ```
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('Run the code-review flow on a bundled sample with a scripted model: no API key needed')
    .option('--stream', "print the agents' output as it streams")
    .option('--json', 'print the flow report as one JSON object')
    .option('-q, --quiet', 'no progress display: only the report')
    .option('-v, --verbose', 'also show tool calls and the servers used')
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`opencode-flow: ${s}`) })
    .addHelpText(
      'after',
      `
Starts a real OpenCode server (the bundled binary) in a temporary HOME with one provider,
"scripted", answered in-process with replies written for this sample. The researcher and the
reviewer really read the sample through OpenCode's read tool and write their verdict to shared
memory; routing, cost accounting and the report are the real thing.

Examples:
  $ npx opencode-flow demo
  $ opencode-flow demo --stream
  $ opencode-flow demo --json | jq .cost`,
    )
    .action(async (raw: Record<string, unknown>) => {
      // Loaded here, not at the top: `--help` needs none of it.
      const { z } = await import('zod');
      const { parseFlags, parseRunOptions } = await import('./run-options.js');
      const { planRun } = await import('./plan.js');
      const { runFlow } = await import('./run-flow.js');
      const DemoOptionsSchema = z
        .object({
          json: z.boolean().optional(),
          stream: z.boolean().optional(),
          quiet: z.boolean().optional(),
          verbose: z.boolean().optional(),
        })
        .strict();
      const o = parseFlags(DemoOptionsSchema, raw);
      const { startScriptedLLM, scriptedOpencodeConfig, isolatedOpencodeEnv } = await import('../testing/index.js');
      const { DEMO_MODELS, DEMO_MODEL_SCORES, demoRules } = await import('./demo-script.js');
      const example = join(examplesDir(), 'code-review');
      if (!existsSync(join(example, 'sample'))) {
        throw new FlowError(
          FlowErrorCode.Internal,
          `the demo's bundled sample is missing from this install (${join(example, 'sample')}); reinstall opencode-flow`,
        );
      }
      const root = await mkdtemp(join(tmpdir(), 'opencode-flow-demo-'));
      const home = join(root, 'home');
      const project = join(root, 'code-review-sample');
      // The demo writes nothing outside its temporary directory: the presets cache (which
      // would go to ~/.cache) goes there too. The demo is the whole process.
      process.env.XDG_CACHE_HOME = join(root, 'cache');
      try {
        await mkdir(home, { recursive: true });
        await cp(join(example, 'sample'), project, { recursive: true });
        // The demo's server is always its own: a server URL in the environment is not for it.
        const flags = parseRunOptions({ ...o }, { ...process.env, OPENCODE_SERVER_URL: '' });
        const plan = await planRun(flags, { configPath: join(example, 'flow.config.json'), cwd: project });
        plan.modelRouter = { ...plan.modelRouter, models: DEMO_MODEL_SCORES } as typeof plan.modelRouter;
        const llm = await startScriptedLLM({
          rules: demoRules(project),
          fallback: { text: 'The scripted demo model has no reply written for this request.' },
        });
        try {
          process.stderr.write(`${DEMO_LABEL}\n`);
          process.exitCode = await runFlow(plan, {
            banner: DEMO_LABEL,
            warm: false,
            starting: 'Starting an embedded OpenCode server (temporary HOME, scripted provider only)…',
            flowOptions: {
              directory: project,
              opencodeConfig: scriptedOpencodeConfig({ baseURL: llm.baseURL, models: DEMO_MODELS }),
              serverEnv: isolatedOpencodeEnv(home),
            },
          });
          if (!o.json)
            process.stdout.write(
              `\n(${DEMO_LABEL}. Run a real flow: opencode-flow run code-review --task "Review src/")\n`,
            );
        } finally {
          await llm.close();
        }
      } finally {
        await rm(root, { recursive: true, force: true }).catch(() => {});
      }
    });
}
