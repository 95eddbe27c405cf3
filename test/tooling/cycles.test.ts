import { resolve } from 'node:path';
import madge from 'madge';
import { describe, expect, it } from 'vitest';

/**
 * No import cycle in src/ or machines/ (type-only imports count: a cycle of types is still a
 * knot a reader has to untie). madge builds the graph; the two-file case below proves it
 * sees `.js` specifiers of `.ts` files, as this project writes them.
 */
const root = resolve(import.meta.dirname, '../..');
const graph = (paths: string[]) =>
  madge(paths, { baseDir: root, fileExtensions: ['ts'], tsConfig: resolve(root, 'tsconfig.json') });

describe('import cycles', () => {
  it('src/ and machines/ have none', async () => {
    const g = await graph([resolve(root, 'src'), resolve(root, 'machines')]);
    expect(Object.keys(g.obj()).length).toBeGreaterThan(100);
    expect(g.circular()).toEqual([]);
  }, 60_000);

  it('would find one', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const dir = await mkdtemp(resolve(root, '.cycle-'));
    try {
      await writeFile(resolve(dir, 'a.ts'), "import type { B } from './b.js';\nexport type A = { b?: B };\n");
      await writeFile(resolve(dir, 'b.ts'), "import type { A } from './a.js';\nexport type B = { a?: A };\n");
      expect((await graph([dir])).circular()).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
