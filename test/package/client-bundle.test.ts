import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `opencode-flow/client` runs in an app that is not a server: its built bundle (and every
 * chunk it loads) imports nothing but `eventsource-parser`, no server dependency (hono,
 * zod, xstate, pg, the OpenCode SDK, ...) and no Node built-in, so it also runs in a browser
 * or an edge runtime with a global `fetch`.
 */
const DIST = resolve(import.meta.dirname, '../../dist');
const ALLOWED = ['eventsource-parser'];

/** Every module specifier a built file loads, following its relative chunks. */
function importsOf(entry: string, pattern: RegExp): { bare: Set<string>; files: string[]; bytes: number } {
  const bare = new Set<string>();
  const files: string[] = [];
  let bytes = 0;
  const walk = (file: string) => {
    if (files.includes(file)) return;
    files.push(file);
    const text = readFileSync(file, 'utf8');
    bytes += text.length;
    for (const m of text.matchAll(pattern)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      if (spec.startsWith('.')) walk(join(dirname(file), spec));
      else bare.add(spec);
    }
  };
  walk(join(DIST, entry));
  return { bare, files, bytes };
}

describe('the client bundle', () => {
  for (const [entry, pattern] of [
    [
      'client.js',
      /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']|(?:^|\n)import\s*["']([^"']+)["']/g,
    ],
    ['client.cjs', /\brequire\(\s*["']([^"']+)["']\s*\)/g],
  ] as const) {
    it(`dist/${entry} loads no server dependency and no Node built-in`, () => {
      if (!existsSync(join(DIST, entry))) throw new Error(`dist/${entry} is missing: run \`npm run build\` first`);
      const { bare, files, bytes } = importsOf(entry, pattern);
      expect([...bare].sort()).toEqual(ALLOWED);
      expect(files.length, 'the chunk holding FlowError is followed').toBeGreaterThan(entry === 'client.js' ? 1 : 0);
      // Tiny: the client and the error class, nothing of the library.
      expect(bytes, files.join(', ')).toBeLessThan(25_000);
    });
  }
});
