// Import boundaries: the layer table of src/README.md as a lint rule. Only this rule is on: the
// formatter (Prettier) owns style and TypeScript owns types.
import tseslint from 'typescript-eslint';

/** How an import of each folder is written (the folder as a path segment). */
const at = (folder) => `**/${folder}/**`;

/** The flow machinery: what the layers under the host must not know. */
const FLOWS = ['flow', 'serve', 'cli', 'agent', 'machines'].map(at);

/**
 * The layers of src/README.md, bottom up: each folder with the folders it may import (the root
 * files errors.ts, echo.ts, package-root.ts, uri.ts and peer.ts are below every folder, so all may
 * import them). Whatever a layer does not list is forbidden to it.
 */
const LAYERS = [
  { layer: 'src/telemetry', files: ['src/telemetry/**/*.ts'], may: [] },
  { layer: 'src/opencode', files: ['src/opencode/**/*.ts'], may: ['telemetry'] },
  { layer: 'src/router', files: ['src/router/**/*.ts'], may: [] },
  { layer: 'src/memory', files: ['src/memory/**/*.ts'], may: [] },
  { layer: 'src/store', files: ['src/store/**/*.ts'], may: [] },
  { layer: 'src/inspector', files: ['src/inspector/**/*.ts'], may: [] },
  { layer: 'machines', files: ['machines/**/*.ts'], may: ['memory'] },
  { layer: 'src/config', files: ['src/config/**/*.ts'], may: ['router', 'memory', 'machines'] },
  { layer: 'src/presets', files: ['src/presets/**/*.ts'], may: ['router', 'config'] },
  { layer: 'src/agent', files: ['src/agent/**/*.ts'], may: ['opencode', 'router', 'machines'] },
  { layer: 'src/testing', files: ['src/testing/**/*.ts'], may: ['opencode', 'memory'] },
  {
    layer: 'src/flow',
    files: ['src/flow/**/*.ts', 'src/index.ts'],
    may: ['telemetry', 'opencode', 'router', 'memory', 'store', 'inspector', 'machines', 'config', 'presets', 'agent'],
  },
  {
    layer: 'src/serve',
    files: ['src/serve/**/*.ts'],
    may: [
      'telemetry',
      'opencode',
      'router',
      'memory',
      'store',
      'inspector',
      'machines',
      'config',
      'presets',
      'agent',
      'flow',
    ],
  },
];
const FOLDERS = [
  'telemetry',
  'opencode',
  'router',
  'memory',
  'store',
  'inspector',
  'machines',
  'config',
  'presets',
  'agent',
  'testing',
  'flow',
  'serve',
  'cli',
];

/** The rules that were here before the table, with their reasons: they win where they apply. */
const REASONS = {
  'src/opencode': [
    [
      [...FLOWS, at('router'), at('memory')],
      'src/opencode/ knows nothing of flows, routing or memory (DESIGN.md: layers)',
    ],
  ],
  'src/router': [
    [[...FLOWS, at('opencode'), at('memory')], 'src/router/ is pure: it never calls OpenCode or holds flow state'],
  ],
  'src/memory': [[[...FLOWS, at('router'), at('opencode')], 'src/memory/ holds no flow logic']],
  machines: [
    [
      [at('opencode'), at('flow'), at('serve'), at('cli'), at('agent'), at('store'), at('inspector'), at('testing')],
      'machines do no I/O: effects are named actors supplied with provide()',
    ],
  ],
  'src/testing': [
    [
      [at('flow'), at('serve'), at('cli'), at('agent'), at('machines')],
      'src/testing/ ships real OpenCode and a scripted model, no flow behaviour',
    ],
  ],
  'src/serve': [[[at('cli')], 'serve runs flows only through the library, never the CLI']],
};
const UP = [[at('serve'), at('cli')], 'the library never reaches up into serve or the CLI'];

/**
 * The library speaks `@opentelemetry/api` only: an SDK or exporter is the application's choice
 * (the CLI loads the Node SDK itself, lazily, when the OTEL_* variables ask for it).
 */
const OTEL_SDK = {
  group: [
    '@opentelemetry/sdk-*',
    '@opentelemetry/sdk-*/**',
    '@opentelemetry/exporter-*',
    '@opentelemetry/exporter-*/**',
  ],
  message: 'the library uses @opentelemetry/api only; the SDK is loaded by the CLI (src/cli/telemetry.ts)',
};

/** One layer's rule: every folder it may not import, each under the first reason that names it. */
function layerRule({ layer, files, may }) {
  const own = layer.split('/').at(-1);
  const forbidden = FOLDERS.filter((f) => f !== own && !may.includes(f)).map(at);
  const reasons = [...(REASONS[layer] ?? []), UP];
  const groups = new Map();
  for (const pattern of forbidden) {
    const reason = reasons.find(([patterns]) => patterns.includes(pattern))?.[1];
    const message = reason ?? `${layer}/ imports only the layers below it (src/README.md: layers)`;
    groups.set(message, [...(groups.get(message) ?? []), pattern]);
  }
  const patterns = [...groups].map(([message, group]) => ({ group, message })).concat(OTEL_SDK);
  return { files, rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-artifacts/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  { files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } },
  // The root files sit under every folder: they import only each other.
  {
    files: ['src/errors.ts', 'src/echo.ts', 'src/package-root.ts', 'src/uri.ts', 'src/peer.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['./*/**', '../**'], message: 'the root files are the bottom layer: they import only each other' },
          ],
        },
      ],
    },
  },
  ...LAYERS.map(layerRule),
  // The typed client of serve sits beside serve at the top, but talks HTTP: it takes errors.ts
  // and the types of serve/api-schemas.ts, no server code.
  {
    files: ['src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...FOLDERS.filter((f) => f !== 'serve').map(at), at('serve'), '!**/serve/api-schemas.js'],
              message:
                'src/client/ talks HTTP to serve: it takes errors.ts and the types of serve/api-schemas.ts, no server code',
            },
          ],
        },
      ],
    },
  },
);
