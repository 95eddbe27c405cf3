// Import boundaries: the layer table of DESIGN.md as a lint rule. Only this rule is on: the
// formatter (Prettier) owns style and TypeScript owns types.
import tseslint from 'typescript-eslint';

/** Patterns a layer may not import, with why (shown in the error). */
const forbid = (files, groups) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns: groups.map(([group, message]) => ({ group, message })) }] },
});

const FLOWS = ['**/flow/**', '**/serve/**', '**/cli/**', '**/runtime/**', '**/machines/**'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-artifacts/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  { files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } },
  forbid(
    ['src/opencode/**/*.ts'],
    [
      [
        [...FLOWS, '**/router/**', '**/memory/**'],
        'src/opencode/ knows nothing of flows, routing or memory (DESIGN.md: layers)',
      ],
    ],
  ),
  forbid(
    ['src/router/**/*.ts'],
    [
      [
        [...FLOWS, '**/opencode/**', '**/memory/**'],
        'src/router/ is pure: it never calls OpenCode or holds flow state',
      ],
    ],
  ),
  forbid(
    ['src/memory/**/*.ts'],
    [[[...FLOWS, '**/router/**', '**/opencode/client*', '**/opencode/events*'], 'src/memory/ holds no flow logic']],
  ),
  forbid(
    ['machines/**/*.ts'],
    [
      [
        ['**/opencode/**', '**/flow/**', '**/serve/**', '**/cli/**', '**/runtime/**', '**/testing/**'],
        'machines do no I/O: effects are named actors supplied with provide()',
      ],
    ],
  ),
  forbid(
    ['src/runtime/**/*.ts', 'src/flow/**/*.ts'],
    [[['**/serve/**', '**/cli/**'], 'the library never reaches up into serve or the CLI']],
  ),
  forbid(['src/serve/**/*.ts'], [[['**/cli/**'], 'serve runs flows only through the library, never the CLI']]),
  forbid(
    ['src/client/**/*.ts'],
    [
      [
        [
          '**/serve/**',
          '!**/serve/api-schemas.js',
          '**/flow/**',
          '**/cli/**',
          '**/runtime/**',
          '**/machines/**',
          '**/opencode/**',
          '**/memory/**',
          '**/router/**',
          '**/config/**',
          '**/testing/**',
        ],
        'src/client/ talks HTTP to serve: it takes errors.ts and the types of serve/api-schemas.ts, no server code',
      ],
    ],
  ),
  forbid(
    ['src/testing/**/*.ts'],
    [
      [
        ['**/flow/**', '**/serve/**', '**/cli/**', '**/runtime/**', '**/machines/**'],
        'src/testing/ ships real OpenCode and a scripted model, no flow behaviour',
      ],
    ],
  ),
);
