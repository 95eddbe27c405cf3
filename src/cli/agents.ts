import { relative } from 'node:path';
import { Command } from 'commander';
import type { PresetAgent, PresetPermission } from '../presets/index.js';

/**
 * What a preset may do to files, in a word or a short list: `yes`, `no`, `asks`, or the
 * patterns it may edit (`only test/*, tests/*, +12`).
 *
 * @example
 * ```ts
 * editPolicy({ edit: 'deny' }); // 'no'
 * editPolicy({ edit: { '*': 'deny', 'test/*': 'allow' } }); // 'only test/*'
 * ```
 */
export function editPolicy(permission: PresetPermission): string {
  const edit = permission.edit ?? permission['*'];
  if (edit === undefined || edit === 'allow') return 'yes';
  if (edit === 'deny') return 'no';
  if (edit === 'ask') return 'asks';
  const allowed = Object.entries(edit)
    .filter(([, a]) => a === 'allow')
    .map(([p]) => p);
  if (edit['*'] === 'allow') return allowed.length > 1 ? 'yes (with exceptions)' : 'yes';
  if (allowed.length === 0) return edit['*'] === 'ask' ? 'asks' : 'no';
  const shown = allowed.slice(0, 2).join(', ');
  return `only ${shown}${allowed.length > 2 ? `, +${allowed.length - 2}` : ''}`;
}

/** One preset as the `agents` command lists it (also its `--json` shape). */
export interface PresetSummary {
  name: string;
  description: string;
  taskType: string | null;
  qualityFloor: number | null;
  model: string | null;
  edit: string;
  source: string;
}

/**
 * A preset → its listing.
 *
 * @example
 * ```ts
 * summarisePreset((await loadPresets()).get('reviewer')!).edit; // 'no'
 * ```
 */
export function summarisePreset(p: PresetAgent, cwd = process.cwd()): PresetSummary {
  return {
    name: p.name,
    description: p.description,
    taskType: p.taskType ?? null,
    qualityFloor: p.qualityFloor ?? null,
    model: p.model ?? null,
    edit: editPolicy(p.permission),
    source: relative(cwd, p.source).startsWith('..') ? p.source : relative(cwd, p.source),
  };
}

/**
 * `opencode-flow agents`: lists the preset agents a flow can use by name (bundled, then the
 * project's `.opencode-flow/agents/*.md`), with their model policy (task type and quality
 * floor the router applies) and whether they may edit files.
 *
 * @example
 * ```ts
 * program.addCommand(agentsCommand());
 * // $ opencode-flow agents --json
 * ```
 */
export function agentsCommand(): Command {
  return new Command('agents')
    .description('List the preset agents with their task type, quality floor and edit permission')
    .option('--json', 'print the list as JSON')
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`opencode-flow: ${s}`) })
    .addHelpText(
      'after',
      `
Add your own agents as .opencode-flow/agents/<name>.md (OpenCode's agent format); a file
named like a preset replaces it.

Examples:
  $ opencode-flow agents
  $ opencode-flow agents --json | jq '.[].name'`,
    )
    .action(async (opts: { json?: boolean }) => {
      const { loadPresets } = await import('../presets/index.js');
      const presets = [...(await loadPresets()).values()].map((p) => summarisePreset(p));
      if (opts.json) {
        process.stdout.write(JSON.stringify(presets, null, 2) + '\n');
        return;
      }
      const { default: Table } = await import('cli-table3');
      const columns = process.stdout.columns && process.stdout.columns > 60 ? process.stdout.columns : 120;
      const fixed = 18 + 11 + 7 + 30 + 6;
      const table = new Table({
        head: ['preset', 'description', 'task type', 'floor', 'may edit'],
        colWidths: [18, Math.max(24, columns - fixed), 11, 7, 30],
        wordWrap: true,
        style: { head: [], border: [] },
      });
      for (const p of presets) {
        table.push([
          p.name,
          p.description,
          p.taskType ?? '-',
          p.qualityFloor === null ? '-' : String(p.qualityFloor),
          p.edit,
        ]);
      }
      process.stdout.write(`${table.toString()}\n`);
      const own = presets.filter((p) => !p.source.includes('node_modules') && p.source.includes('.opencode-flow'));
      if (own.length) process.stdout.write(`from this project: ${own.map((p) => p.name).join(', ')}\n`);
    });
}
