// The end of .ci/run: reads vitest's JSON report, prints each skipped test that
// .ci/expected-skips does not list, then one plain "tests: N passed, F failed, S skipped"
// line, last. Exits 1 on an unexpected skip, on a test file that failed outside its tests,
// or when there is no report (the type-check or vitest itself failed first).
// Usage: node .ci/summary.mjs <vitest-report.json> <expected-skips>
import { readFileSync, existsSync } from 'node:fs';
import { relative } from 'node:path';
const [reportPath, expectedPath] = process.argv.slice(2);
let report;
try {
  report = JSON.parse(readFileSync(reportPath, 'utf8'));
} catch {
  console.log('.ci/run: vitest wrote no report (the type-check or vitest itself failed)');
  console.log('tests: 0 passed, 0 failed, 0 skipped');
  process.exit(1);
}
// Each line of .ci/expected-skips: "<test file>: <start of the test's full name>"; # comments.
const expected = existsSync(expectedPath)
  ? readFileSync(expectedPath, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
  : [];
const skipped = report.testResults.flatMap((file) =>
  file.assertionResults
    .filter((t) => t.status === 'skipped' || t.status === 'pending' || t.status === 'todo')
    .map((t) => `${relative(process.cwd(), file.name)}: ${[...t.ancestorTitles, t.title].join(' > ')}`),
);
const unexpected = skipped.filter((s) => !expected.some((e) => s.startsWith(e)));
const failedFiles = report.testResults.filter(
  (f) => f.status === 'failed' && f.assertionResults.every((t) => t.status !== 'failed'),
);
for (const f of failedFiles)
  console.log(
    `.ci/run: ${relative(process.cwd(), f.name)} failed outside its tests: ${(f.message ?? '').split('\n')[0]}`,
  );
if (unexpected.length > 0) {
  console.log(
    `.ci/run: ${unexpected.length} skipped test(s) not in .ci/expected-skips (CI starts every service and installs every tool the tests need):`,
  );
  for (const s of unexpected) console.log(`  ${s}`);
}
// Last, alone on its line.
console.log(
  `tests: ${report.numPassedTests} passed, ${report.numFailedTests + failedFiles.length} failed, ${skipped.length} skipped`,
);
if (unexpected.length > 0 || failedFiles.length > 0) process.exit(1);
