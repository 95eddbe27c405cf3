import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration suites each start a real `opencode serve` (about 0.5 GB, a few seconds
    // to boot); two cores here, so keep files few at once.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 150_000,
    teardownTimeout: 30_000,
  },
});
