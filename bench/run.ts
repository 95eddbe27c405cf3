/**
 * `npm run bench [name...]`: run the benchmarks one after another (they share two cores,
 * so never at once). Each prints its figures as ratios against a baseline measured in the
 * same run. Not a test: nothing here fails the build on a slow machine.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')} (have: ${all.join(', ')})`);
  process.exit(2);
}
for (const name of wanted.length ? wanted : all) {
  console.log(`\n=== bench/${name} ===`);
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { main?: () => Promise<unknown> };
  if (typeof mod.main !== 'function') {
    console.log('(no main() export, skipped)');
    continue;
  }
  await mod.main();
}
