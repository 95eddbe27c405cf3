import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The package as a consumer gets it: `npm pack` of the built dist/, installed from the
 * tarball into an empty project, then loaded by `require()` and by `import`, and
 * type-checked by TypeScript consumers compiling to CommonJS and to ESM. Needs dist/ (built
 * by `npm install`'s prepare, or `npm run build`); installs offline from npm's cache when
 * it can.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const run = promisify(execFile);
let dir: string;
let app: string;

async function sh(
  file: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(file, args, { cwd, maxBuffer: 32 << 20, env: { ...process.env, NODE_OPTIONS: '' } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

beforeAll(async () => {
  for (const f of ['index', 'machines', 'router', 'store', 'memory', 'opencode', 'testing', 'mcp', 'client']) {
    for (const ext of ['js', 'cjs', 'd.ts', 'd.cts']) {
      if (!existsSync(join(ROOT, `dist/${f}.${ext}`)))
        throw new Error(`dist/${f}.${ext} is missing: run \`npm run build\` first`);
    }
  }
  dir = await mkdtemp(join(tmpdir(), 'ocf-pack-'));
  // --ignore-scripts: dist/ as built, no second tsup run through `prepare`.
  const pack = await sh('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], ROOT);
  expect(pack.code, pack.stderr).toBe(0);
  const tarball = join(dir, (JSON.parse(pack.stdout) as Array<{ filename: string }>)[0]!.filename);
  app = join(dir, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  // No optional dependencies (the opencode binary) and no install scripts: loading and
  // type-checking the library needs neither.
  const install = await sh(
    'npm',
    ['install', tarball, '--prefer-offline', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund'],
    app,
  );
  expect(install.code, install.stderr).toBe(0);
}, 300_000);
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

describe('the packed package', () => {
  it("is what the README's install section says to make and install: npm pack, then the tarball", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Installing it in your own app'));
    const block = /```bash\n([\s\S]*?)```/.exec(section)![1]!;
    const lines = block.split('\n').map((l) => l.replace(/#.*$/, '').trim());
    // The steps this file's beforeAll runs (pack in the repository, install the tarball in an app).
    expect(lines).toContain('npm pack');
    expect(lines).toContain('npm install /path/to/opencode-flow-<version>.tgz');
    const { name, version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
    };
    expect(await readdir(dir)).toContain(`${name}-${version}.tgz`);
    expect(block).not.toMatch(/^npm install opencode-flow\b/m); // not on the registry
  });

  it('ships dist (ESM and CommonJS with their types), LICENSE, agents, schema, and no sources or tests', async () => {
    const pkgDir = join(app, 'node_modules/opencode-flow');
    const files = await readdir(pkgDir);
    expect(files).toEqual(
      expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist', 'agents', 'schema', 'examples']),
    );
    expect(files).not.toContain('src');
    expect(files).not.toContain('test');
    expect(readFileSync(join(pkgDir, 'LICENSE'), 'utf8')).toMatch(/^MIT License[\s\S]*opencode-flow contributors/);
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.repository).toMatchObject({ url: expect.stringContaining('github.com/opencode-flow/opencode-flow') });
    expect(pkg.bugs).toBeDefined();
  });

  it('works with require() from a CommonJS program, without loading any ES module: the library, /testing, /mcp and /client', async () => {
    const program = `
      const flow = require('opencode-flow');
      const testing = require('opencode-flow/testing');
      const mcp = require('opencode-flow/mcp');
      const client = require('opencode-flow/client');
      const subpaths = ['machines', 'router', 'store', 'memory', 'opencode'].map((s) => require('opencode-flow/' + s));
      (async () => {
        // The package root is found from dist/index.cjs: the bundled preset agents load.
        const presets = await flow.loadPresets({ cwd: process.cwd() });
        const llm = await testing.startScriptedLLM({ fallback: { text: 'hi' } });
        const models = await fetch(llm.baseURL + '/models');
        await llm.close();
        console.log(JSON.stringify({
          OpencodeFlow: typeof flow.OpencodeFlow,
          FlowError: new flow.FlowError('internal', 'x') instanceof Error,
          presets: [...presets.keys()].sort(),
          models: models.status,
          mcp: typeof mcp.createMemoryMcpServer,
          client: typeof new client.FlowClient({ baseUrl: 'http://127.0.0.1:5000' }).events,
          subpaths: subpaths.map((m) => Object.keys(m).length > 0),
        }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    await writeFile(join(app, 'main.cjs'), program);
    // Node >= 20.19 can require() ES modules; switched off, this proves the CommonJS build
    // needs none of them, as on Node 20.0 to 20.18.
    const flag = process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module')
      ? ['--no-experimental-require-module']
      : [];
    const r = await sh(process.execPath, [...flag, 'main.cjs'], app);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      OpencodeFlow: 'function',
      FlowError: true,
      models: 200,
      mcp: 'function',
      client: 'function',
    });
    expect(out.subpaths).toEqual([true, true, true, true, true]);
    expect(out.presets).toEqual(expect.arrayContaining(['coder', 'reviewer']));
  });

  it('works with import from an ES module', async () => {
    await writeFile(
      join(app, 'main.mjs'),
      "import { OpencodeFlow, loadPresets } from 'opencode-flow';\nimport { startScriptedLLM } from 'opencode-flow/testing';\nconsole.log(typeof OpencodeFlow, typeof startScriptedLLM, (await loadPresets()).size > 0);\n",
    );
    const r = await sh(process.execPath, ['main.mjs'], app);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('function function true');
  });

  it('its published types import no optional peer (pg, ioredis, better-sqlite3)', async () => {
    const dist = join(app, 'node_modules/opencode-flow/dist');
    const offenders: string[] = [];
    for (const f of (await readdir(dist)).filter((n) => /\.d\.c?ts$/.test(n))) {
      const text = await readFile(join(dist, f), 'utf8');
      for (const peer of ['pg', 'ioredis', 'better-sqlite3'])
        if (new RegExp(`(from|import\\()\\s*['"]${peer}['"]`).test(text)) offenders.push(`${f}: ${peer}`);
    }
    expect(offenders).toEqual([]);
  });

  it('type-checks with skipLibCheck: false and strict, every entry imported, without @types/pg, @types/better-sqlite3 or ioredis', async () => {
    const sub = join(app, 'ts-strict-libcheck');
    await mkdir(sub, { recursive: true });
    // A types root holding @types/node alone: none of the optional peers' types are there.
    const types = join(sub, 'types');
    await mkdir(types);
    await symlink(join(ROOT, 'node_modules/@types/node'), join(types, 'node'), 'dir');
    const entries = ['', '/machines', '/router', '/store', '/memory', '/opencode', '/testing', '/mcp', '/client'];
    const source =
      entries.map((e, i) => `import * as e${i} from 'opencode-flow${e}';`).join('\n') +
      `\nimport type { FlowStore } from 'opencode-flow/store';
import type { MemoryBackend } from 'opencode-flow/memory';
const store: FlowStore = e3.openFlowStore('postgres://flows@127.0.0.1:5432/flows');
export const memory: Promise<MemoryBackend> = e4.createMemoryBackend('redis://127.0.0.1:6379/0');
export const used = [${entries.map((_, i) => `e${i}`).join(', ')}, store];
`;
    await writeFile(join(sub, 'consumer.mts'), source);
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [types],
      },
      files: ['consumer.mts'],
    };
    await writeFile(join(sub, 'tsconfig.json'), JSON.stringify(tsconfig));
    for (const peer of ['pg', '@types/pg', 'better-sqlite3', '@types/better-sqlite3', 'ioredis'])
      expect(existsSync(join(app, 'node_modules', peer)), `${peer} is not installed`).toBe(false);
    const r = await sh(process.execPath, [TSC, '-p', sub], sub);
    expect(r.stdout + r.stderr, 'tsc output').toBe('');
    expect(r.code).toBe(0);
  });

  it.each([
    ['import', 'mjs'],
    ['require()', 'cjs'],
  ])(
    'without the optional peers (%s): the sqlite and postgres stores and the sqlite and redis memory fail naming the package to install; the file store and memory work',
    async (_how, ext) => {
      const load =
        ext === 'mjs'
          ? "import { openFlowStore } from 'opencode-flow/store';\nimport { createMemoryBackend } from 'opencode-flow/memory';"
          : "const { openFlowStore } = require('opencode-flow/store');\nconst { createMemoryBackend } = require('opencode-flow/memory');";
      const program = `${load}
// By name, not instanceof: each CommonJS entry bundles its own copy of the FlowError class.
const failure = (p) => p.then(() => 'no error', (e) => (e.name === 'FlowError' ? e.code + ': ' : 'not a FlowError: ') + e.message);
(async () => {
  const out = {
    sqliteStore: await failure(openFlowStore('sqlite:flows.db').list()),
    postgresStore: await failure(openFlowStore('postgres://flows@127.0.0.1:5432/flows').list()),
    sqliteMemory: await failure(createMemoryBackend('sqlite:memory.db')),
    redisMemory: await failure(createMemoryBackend('redis://127.0.0.1:6379/0')),
  };
  const files = openFlowStore('file:flows-${ext}');
  out.fileStore = (await files.list()).length;
  const memory = await createMemoryBackend('file:memory-${ext}.json');
  await memory.set('ns', 'k', 'v');
  out.fileMemory = (await memory.get('ns', 'k')).value;
  await memory.close();
  console.log(JSON.stringify(out));
  process.exit(0); // a client of a peer that is installed would keep the process alive
})().catch((e) => { console.error(e); process.exit(1); });
`;
      await writeFile(join(app, `peers.${ext}`), program);
      const r = await sh(process.execPath, [`peers.${ext}`], app);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        sqliteStore: 'invalid_config: the sqlite flow store needs better-sqlite3: npm install better-sqlite3',
        postgresStore: 'invalid_config: the postgres flow store needs pg: npm install pg',
        sqliteMemory: 'memory: the sqlite memory backend needs better-sqlite3: npm install better-sqlite3',
        redisMemory: 'memory: the redis memory backend needs ioredis: npm install ioredis',
        fileStore: 0,
        fileMemory: 'v',
      });
    },
  );

  it.each([
    ['CommonJS, module commonjs (node10 resolution)', { module: 'commonjs' }, 'consumer.ts', 'cjs'],
    [
      'CommonJS, module node16 (.cts, require conditions)',
      { module: 'node16', moduleResolution: 'node16' },
      'consumer.cts',
      'cjs',
    ],
    [
      'ESM, module nodenext (.mts, import conditions)',
      { module: 'nodenext', moduleResolution: 'nodenext' },
      'consumer.mts',
      'esm',
    ],
  ])('type-checks for a TypeScript consumer: %s', async (_name, options, file, kind) => {
    const sub = join(app, `ts-${file.replace('.', '-')}`);
    await mkdir(sub, { recursive: true });
    const source = `import { OpencodeFlow, FlowError, type FlowReport } from 'opencode-flow';
import { startScriptedLLM } from 'opencode-flow/testing';
import { supervisorMachine } from 'opencode-flow/machines';
import { ModelRouter } from 'opencode-flow/router';
import { openFlowStore, type FlowStore } from 'opencode-flow/store';
import { OpencodeClient } from 'opencode-flow/opencode';
import { createMemoryBackend } from 'opencode-flow/memory';
const store: FlowStore = openFlowStore('file:flows');
const flow: OpencodeFlow = new OpencodeFlow({ serverUrl: 'http://127.0.0.1:1' });
const report: FlowReport | undefined = undefined;
const e = new FlowError('internal', 'x');
// @ts-expect-error a wrong option is a type error, so the types are really read
new OpencodeFlow({ serverUrl: 42 });
export const used = [flow, report, e.code, startScriptedLLM, supervisorMachine, ModelRouter, store, OpencodeClient, createMemoryBackend, ${kind === 'cjs' ? "require('opencode-flow').OpencodeFlow" : 'import.meta.url'}];
`;
    await writeFile(join(sub, file), source);
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        strict: true,
        noEmit: true,
        esModuleInterop: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
        ...options,
      },
      files: [file],
    };
    await writeFile(join(sub, 'tsconfig.json'), JSON.stringify(tsconfig));
    const r = await sh(process.execPath, [TSC, '-p', sub], sub);
    expect(r.stdout + r.stderr, 'tsc output').toBe('');
    expect(r.code).toBe(0);
  });
});
