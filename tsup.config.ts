import { defineConfig, type Options } from 'tsup';

/** The library's entry points; `cli` is only ever run, so it is built as ESM alone. */
const library = {
  index: 'src/index.ts',
  machines: 'machines/index.ts',
  router: 'src/router/index.ts',
  store: 'src/store/index.ts',
  memory: 'src/memory/index.ts',
  opencode: 'src/opencode/index.ts',
  testing: 'src/testing/index.ts',
  mcp: 'src/memory/mcp/index.ts',
  // The typed client of `serve` (opencode-flow/client): no server code, checked by test/package/client-bundle.test.ts.
  client: 'src/client/index.ts',
};

const shared: Options = {
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  // Dependencies stay external: the package's own node_modules provide them.
  skipNodeModulesBundle: true,
};

export default defineConfig([
  {
    ...shared,
    entry: {
      ...library,
      cli: 'src/cli/index.ts',
      // The detached keeper of a warm OpenCode server (src/opencode/warm.ts spawns it by this name).
      'warm-keeper': 'src/opencode/warm-keeper.ts',
    },
    format: ['esm'],
    // stripInternal: members marked @internal (PostgresFlowStore.connection, which returns pg's
    // Pool) stay out of the published types, so they import no optional peer's types.
    dts: { entry: library, compilerOptions: { stripInternal: true } },
    clean: true,
    splitting: true,
    shims: false,
  },
  {
    // CommonJS for `require('opencode-flow')`: dist/<entry>.cjs and .d.cts for every library entry.
    // Two dependencies publish ESM only: @opencode-ai/sdk (its ./v2 export has no `require`
    // condition) and @statelyai/inspect (only a `default` one, which require() loads on Node
    // >= 20.19 alone). This build bundles those two with what they import that is not a
    // dependency of ours, so it runs on every Node the package supports; our own
    // dependencies are required from node_modules as usual.
    ...shared,
    skipNodeModulesBundle: false,
    entry: library,
    format: ['cjs'],
    // The .d.cts still import @opencode-ai/sdk/v2's types (tsup's declaration bundler does
    // not resolve its exports-only subpath), so a CommonJS consumer needs skipLibCheck
    // (tsc --init's default) under node16 resolution; under node10 those types are `any`.
    dts: { entry: library, compilerOptions: { stripInternal: true } },
    noExternal: [/^@opencode-ai\/sdk(\/|$)/, /^@statelyai\/inspect(\/|$)/],
    clean: false,
    splitting: false,
    // import.meta.url (to find the package root and the opencode binary) from __filename.
    shims: true,
  },
]);
