import { existsSync } from 'node:fs';
import { join } from 'node:path';

// What the CLI needs of flow.config.json before any command runs (the bare command's hint,
// "did you mean"): no zod here, so `--help` stays light. The schema is in flow-config.ts.

/**
 * The file name `opencode-flow` looks for in the working directory when no `--config` is
 * given.
 *
 * @example
 * ```ts
 * join(process.cwd(), FLOW_CONFIG_FILE); // '/repo/flow.config.json'
 * ```
 */
export const FLOW_CONFIG_FILE = 'flow.config.json';

/**
 * The `flow.config.json` of a directory, if there is one.
 *
 * @example
 * ```ts
 * const path = findFlowConfig(process.cwd()); // '/repo/flow.config.json' or undefined
 * ```
 */
export function findFlowConfig(dir: string): string | undefined {
  const path = join(dir, FLOW_CONFIG_FILE);
  return existsSync(path) ? path : undefined;
}

/**
 * The candidate closest to a typo: a case-insensitive match, else edit distance ≤ 2.
 *
 * @example
 * ```ts
 * closest('agnets', ['agents', 'task']); // 'agents'
 * ```
 */
export function closest(key: string, allowed: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of allowed) {
    // Lengths 3 apart are at least 3 edits apart: skip the quadratic distance (keys may be huge).
    if (Math.abs(k.length - key.length) >= bestD) continue;
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : distance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
