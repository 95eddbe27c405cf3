import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    mcp: 'src/memory/mcp/index.ts',
    cli: 'src/cli/index.ts',
  },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: { entry: { index: 'src/index.ts', testing: 'src/testing/index.ts', mcp: 'src/memory/mcp/index.ts' } },
  clean: true,
  sourcemap: true,
  splitting: true,
  shims: false,
  // Dependencies stay external: the package's own node_modules provide them.
  skipNodeModulesBundle: true,
});
