import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Every ```ts block of the README is a complete program that type-checks against the
 * built package, as a user's project would compile it: `opencode-flow`,
 * `opencode-flow/testing` and `opencode-flow/mcp` resolve through package.json's exports
 * to dist/*.d.ts (the blocks sit in a folder inside the repository, so the package's own
 * name resolves to itself), under nodenext and the strict options this project uses
 * (noUncheckedIndexedAccess included). One tsc run checks all blocks.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

interface Block {
  /** 1-based README line of the block's first code line. */
  line: number;
  code: string;
  file: string;
}

/** The ```ts (and ```typescript) blocks of a markdown text, with where each starts. */
function tsBlocks(markdown: string): Array<Omit<Block, 'file'>> {
  const blocks: Array<Omit<Block, 'file'>> = [];
  for (const m of markdown.matchAll(/^```(?:ts|typescript)[ \t]*\n([\s\S]*?)^```[ \t]*$/gm)) {
    blocks.push({ line: markdown.slice(0, m.index).split('\n').length + 1, code: m[1]! });
  }
  return blocks;
}

let dir: string;
let blocks: Block[];
let diagnostics: string;
let exitCode: number;

beforeAll(async () => {
  for (const f of ['index', 'testing', 'mcp']) {
    if (!existsSync(join(ROOT, `dist/${f}.d.ts`)))
      throw new Error(`dist/${f}.d.ts is missing: run \`npm run build\` first`);
  }
  // Inside the repository (for the self-reference), in a dot-folder tsconfig.json's globs skip.
  dir = await mkdtemp(join(ROOT, '.readme-ts-'));
  blocks = tsBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8')).map((b, i) => ({
    ...b,
    file: join(dir, `block-${i + 1}.ts`),
  }));
  for (const b of blocks) await writeFile(b.file, b.code);
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      lib: ['ES2023'],
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules/@types')],
      strict: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
      noImplicitReturns: true,
      skipLibCheck: true,
      noEmit: true,
      // Each block is its own module, with or without an import.
      moduleDetection: 'force',
    },
    files: blocks.map((b) => b.file),
  };
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  const r = await promisify(execFile)(process.execPath, [TSC, '-p', dir, '--pretty', 'false'], {
    cwd: ROOT,
    maxBuffer: 16 << 20,
  }).then(
    (x) => ({ code: 0, out: x.stdout + x.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
  exitCode = r.code;
  diagnostics = r.out;
}, 180_000);
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

/** tsc's errors for one block, with the block's file:line turned into README.md:line. */
function errorsOf(b: Block): string[] {
  const name = relative(ROOT, b.file);
  return diagnostics
    .split('\n')
    .filter((l) => l.startsWith(name) || l.startsWith(b.file))
    .map((l) =>
      l.replace(
        /^.*?\((\d+),(\d+)\)/,
        (_m, line: string, col: string) => `README.md:${b.line + Number(line) - 1}:${col}`,
      ),
    );
}

describe('README.md TypeScript', () => {
  it('has ts blocks, and tsc checked them all', () => {
    expect(blocks.length).toBeGreaterThan(0);
    // Errors outside the blocks (a bad tsconfig, a missing dist) would otherwise pass unseen.
    const unattributed = diagnostics
      .split('\n')
      .filter(
        (l) =>
          l.trim() && !blocks.some((b) => l.includes(relative(ROOT, b.file)) || l.includes(b.file)) && !/^\s/.test(l),
      );
    expect(unattributed).toEqual([]);
    expect(exitCode === 0 || blocks.some((b) => errorsOf(b).length > 0)).toBe(true);
  });

  it('every block is a complete program that compiles against the built package', () => {
    const failures = blocks
      .map((b) => ({ block: `README.md:${b.line}`, errors: errorsOf(b) }))
      .filter((f) => f.errors.length > 0);
    expect(failures).toEqual([]);
  });

  it('finds blocks and maps tsc lines back to the README', () => {
    const found = tsBlocks('# t\n\n```ts\nconst a = 1;\n```\ntext\n```typescript\nlet b;\n```\n```bash\nls\n```\n');
    expect(found).toEqual([
      { line: 4, code: 'const a = 1;\n' },
      { line: 8, code: 'let b;\n' },
    ]);
  });
});
