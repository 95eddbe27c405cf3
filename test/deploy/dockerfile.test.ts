/**
 * The Dockerfile and .dockerignore, checked without a Docker engine: the stages and their
 * bases, where production dependencies come from, what the final stage holds (every path
 * the CLI finds next to its package.json), its user, health check and entrypoint. The
 * better-sqlite3 prune step is run for real on a copy of the installed addon.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { copiesOf, dockerignore, execForm, parseDockerfile, type Stage } from './dockerfile.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// A supported Node LTS: Node 20 reached its end of life on 2026-04-30.
const BASE = 'node:24-alpine';
const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const final = stages.at(-1)!;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  files: string[];
  optionalDependencies?: Record<string, string>;
};
const ignored = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));

const stageNamed = (name: string) => {
  const s = stages.find((x) => x.name === name);
  expect(s, `a stage named ${name}`).toBeDefined();
  return s!;
};
/** A stage and the stages it is built FROM, itself first. */
const lineage = (s: Stage): Stage[] => {
  const parent = stages.find((x) => x.name === s.from && x.index < s.index);
  return parent ? [s, ...lineage(parent)] : [s];
};
const runs = (s: Stage) => s.instructions.filter((i) => i.cmd === 'RUN').map((i) => i.args);
/** The single shell commands of a stage's RUNs (split at && and ;). */
const commands = (s: Stage) =>
  runs(s).flatMap((r) =>
    r
      .split(/&&|;/)
      .map((c) => c.trim().replace(/\s+/g, ' '))
      .filter(Boolean),
  );
const npmCi = (s: Stage) => commands(s).filter((c) => /^npm ci\b/.test(c));
/** Where the final stage's copy of an image path comes from. */
const finalCopy = (target: string) => copiesOf(final).find((c) => c.targets.includes(target));

describe('Dockerfile parsing (the helpers themselves)', () => {
  it('joins continuation lines, skips comments inside them, and reads flags and forms', () => {
    const s = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'FROM node:20-alpine AS a',
        'WORKDIR /app',
        'RUN one \\',
        '# a comment',
        ' && two',
        'FROM a',
        'COPY --from=a /app/x ./y',
        'COPY p q ./',
        'HEALTHCHECK --interval=5s CMD ["node", "h.mjs"]',
      ].join('\n'),
    );
    expect(s.map((x) => [x.from, x.name])).toEqual([
      ['node:20-alpine', 'a'],
      ['a', undefined],
    ]);
    expect(runs(s[0]!)).toEqual(['one  && two']);
    expect(copiesOf(s[1]!)).toEqual([
      { from: 'a', sources: ['/app/x'], targets: ['/y'] },
      { sources: ['p', 'q'], targets: ['/p', '/q'] },
    ]);
    const hc = s[1]!.instructions.find((i) => i.cmd === 'HEALTHCHECK')!;
    expect(hc.flags).toEqual({ interval: '5s' });
    expect(execForm(hc.args.replace(/^CMD\s+/, ''))).toEqual(['node', 'h.mjs']);
    expect(execForm('echo hi')).toEqual(['/bin/sh', '-c', 'echo hi']);
  });

  it('applies .dockerignore patterns to directories, nested paths and exceptions', () => {
    const m = dockerignore('node_modules\n**/.env\n*.log\n!keep.log\n# comment\n/dist/\n');
    expect(
      ['node_modules', 'node_modules/a/b.js', 'a/b/.env', '.env', 'x.log', 'dist/cli.js'].filter((p) => !m(p)),
    ).toEqual([]);
    expect(['src/a.ts', 'keep.log', 'a/x.log', 'a/node_modules/b'].filter(m)).toEqual([]);
  });
});

describe('Dockerfile: stages', () => {
  it(`every stage starts from ${BASE}, directly or through earlier stages; the final one directly`, () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    for (const s of stages) expect(lineage(s).at(-1)!.from, `stage ${s.name ?? s.index}`).toBe(BASE);
    // Not FROM a builder stage: npm 11, the toolchain and the dev tree stay out of it.
    expect(final.from).toBe(BASE);
    expect(final.name).toBeUndefined();
  });

  it('production dependencies come from `npm ci --omit=dev --omit=optional`, without scripts but better-sqlite3', () => {
    const nm = finalCopy('/app/node_modules');
    expect(nm?.from, 'node_modules is copied from a stage').toBeDefined();
    const prod = stageNamed(nm!.from!);
    const ci = npmCi(prod);
    expect(ci).toHaveLength(1);
    expect(ci[0]).toMatch(/--omit=dev\b/);
    expect(ci[0]).toMatch(/--omit=optional\b/);
    // Scripts off: the package's own `prepare` runs tsup, a devDependency.
    expect(ci[0]).toMatch(/--ignore-scripts\b/);
    expect(commands(prod)).toContain('npm rebuild better-sqlite3');
    expect(nm!.sources).toEqual(['/app/node_modules']);
  });

  it('no stage installs packages any other way than `npm ci` (bar pinning npm itself)', () => {
    for (const s of stages) {
      for (const c of commands(s).filter((x) => /^npm (install|i|add)\b/.test(x))) {
        expect(c, `stage ${s.name ?? s.index}`).toMatch(/^npm install -g npm@\d+\.\d+\.\d+( --[a-z-]+)*$/);
      }
      for (const c of commands(s)) expect(c, `stage ${s.name ?? s.index}`).not.toMatch(/^(yarn|pnpm)\b/);
    }
  });

  it('the opencode-ai optional dependency is dropped before any install, so no stage fetches the binary', () => {
    expect(Object.keys(pkg.optionalDependencies ?? {})).toContain('opencode-ai');
    const installers = stages.filter((s) => npmCi(s).length > 0);
    expect(installers.length).toBe(2); // the build and the production dependencies
    for (const s of installers) {
      const before = lineage(s).slice(1).flatMap(commands);
      expect(before, `stage ${s.name}`).toContain('npm pkg delete optionalDependencies.opencode-ai');
    }
  });

  it('the build stage installs with `npm ci`, copies every tsup input, and builds dist', () => {
    const build = stageNamed(finalCopy('/app/dist')!.from!);
    expect(npmCi(build)).toHaveLength(1);
    expect(commands(build)).toContain('npx tsup');
    const copied = lineage(build)
      .flatMap(copiesOf)
      .filter((c) => !c.from)
      .flatMap((c) => c.sources);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsup.config.ts'])
      expect(copied).toContain(f);
    // Every relative import in src/ and machines/ stays inside what the stage copies.
    const inside = (p: string) => copied.some((c) => p === c || p.startsWith(`${c}/`));
    const files = ['src', 'machines'].flatMap((d) => walk(join(ROOT, d))).filter((f) => /\.ts$/.test(f));
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) {
      expect(inside(relative(ROOT, f)), f).toBe(true);
      for (const [, spec] of readFileSync(f, 'utf8').matchAll(/\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = relative(ROOT, resolve(dirname(f), spec!));
        expect(inside(target), `${relative(ROOT, f)} imports ${spec}`).toBe(true);
      }
    }
  });
});

describe('Dockerfile: the optional store and memory backends', () => {
  it(
    "installs better-sqlite3, pg and ioredis (the package's optional peers) into the production dependencies",
    { timeout: 120_000 },
    () => {
      // The manifest steps of the shared stage, run for real on a copy of package.json and
      // the lock, then the production stage's `npm ci` as a dry run from npm's cache.
      const dir = mkdtempSync(join(tmpdir(), 'ocf-docker-peers-'));
      try {
        cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
        cpSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
        const prod = stageNamed(finalCopy('/app/node_modules')!.from!);
        const manifest = lineage(prod)
          .slice(1)
          .reverse()
          .flatMap(runs)
          .filter((r) => /^npm pkg |^for p in /.test(r));
        expect(manifest.length).toBeGreaterThanOrEqual(2);
        for (const r of manifest) execFileSync('sh', ['-c', r], { cwd: dir, stdio: 'pipe' });
        const ci = npmCi(prod)[0]!.split(' ');
        const out = execFileSync(ci[0]!, [...ci.slice(1), '--dry-run', '--offline'], {
          cwd: dir,
          encoding: 'utf8',
          maxBuffer: 16 << 20,
        });
        for (const name of ['better-sqlite3', 'pg', 'ioredis'])
          expect(out).toMatch(new RegExp(`^add ${name} \\d`, 'm'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('Dockerfile: the final image', () => {
  it('holds package.json and every entry of its "files" next to it in /app, dist from the build', () => {
    // packageInfo() walks up from dist/ to package.json; agents/ and examples/ are found beside it.
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'agents', 'examples', 'schema']));
    for (const f of ['package.json', ...pkg.files]) {
      const c = finalCopy(posix.join('/app', f));
      expect(c, `/app/${f} is copied`).toBeDefined();
      if (f === 'dist') expect(c!.from).toBe(finalCopy('/app/dist')!.from);
      else expect(c!.from, f).toBeUndefined();
    }
    expect(finalCopy('/app/dist')!.sources).toEqual(['/app/dist']);
  });

  it('runs as a non-root user, and the entrypoint is the CLI package.json names', () => {
    const users = final.instructions.filter((i) => i.cmd === 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0', '0:0']).not.toContain(users.at(-1)!.args);
    const at = (cmd: string) => final.instructions.findIndex((i) => i.cmd === cmd);
    expect(final.instructions.findLastIndex((i) => i.cmd === 'USER')).toBeLessThan(at('ENTRYPOINT'));
    const entry = execForm(final.instructions.find((i) => i.cmd === 'ENTRYPOINT')!.args);
    expect(entry).toEqual(['node', posix.join('/app', pkg.bin['opencode-flow']!)]);
    expect(
      final.instructions.find((i) => i.cmd === 'CMD')!.args.startsWith('['),
      'CMD in exec form: args to the CLI',
    ).toBe(true);
  });

  it("has one HEALTHCHECK: the script in the image that asks /healthz, within Docker's timeout", () => {
    const hcs = final.instructions.filter((i) => i.cmd === 'HEALTHCHECK');
    expect(hcs).toHaveLength(1);
    const hc = hcs[0]!;
    expect(hc.args).toMatch(/^CMD\s+\[/);
    const argv = execForm(hc.args.replace(/^CMD\s+/, ''));
    expect(argv[0]).toBe('node');
    const copy = finalCopy(argv[1]!);
    expect(copy?.from, `${argv[1]} is copied from the context`).toBeUndefined();
    const script = readFileSync(join(ROOT, copy!.sources[0]!), 'utf8');
    expect(script).toContain('/healthz');
    const timeoutMs = Number(/TIMEOUT_MS = (\d+)/.exec(script)?.[1]);
    expect(timeoutMs).toBeLessThan(Number(/^(\d+)s$/.exec(hc.flags.timeout ?? '')?.[1]) * 1000);
  });
});

describe('Dockerfile: pruning production dependencies', () => {
  const installed = join(ROOT, 'node_modules');
  /** The RUNs of the production stage that delete files, each with the packages it names. */
  const prunes = () => {
    const prod = stageNamed(finalCopy('/app/node_modules')!.from!);
    return runs(prod)
      .filter((r) => /\brm -rf\b/.test(r))
      .map((script) => ({
        script,
        packages: [...new Set([...script.matchAll(/node_modules\/((?:@[^/\s]+\/)?[^/\s]+)/g)].map((m) => m[1]!))],
      }));
  };
  /** A package and its dependencies' closure, as hoisted in this checkout's node_modules. */
  const closure = (name: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(name) || !existsSync(join(installed, name, 'package.json'))) return seen;
    seen.add(name);
    const deps = (
      JSON.parse(readFileSync(join(installed, name, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      }
    ).dependencies;
    for (const d of Object.keys(deps ?? {})) closure(d, seen);
    return seen;
  };
  /** Runs a prune step in a directory holding copies of its packages; the files left of each. */
  const runPrune = ({ script, packages }: { script: string; packages: string[] }) => {
    const dir = mkdtempSync(join(tmpdir(), 'dockerfile-prune-'));
    try {
      for (const p of packages.flatMap((x) => [...closure(x)]))
        cpSync(join(installed, p), join(dir, 'node_modules', p), { recursive: true });
      // The step's own check (a require after the rm) decides: sh -e stops at the first failure.
      execFileSync('sh', ['-ec', script.replaceAll('/app', dir)], { cwd: dir, stdio: 'pipe', timeout: 60_000 });
      return Object.fromEntries(
        packages.map((p) => [
          p,
          walk(join(dir, 'node_modules', p)).map((f) => relative(join(dir, 'node_modules', p), f)),
        ]),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('every step names the packages it prunes and checks them with a require afterwards', () => {
    const steps = prunes();
    expect(steps.map((s) => s.packages).sort()).toEqual([['better-sqlite3'], ['superjson']]);
    for (const s of steps) {
      const check = s.script.lastIndexOf('node -e');
      expect(check, s.packages.join()).toBeGreaterThan(s.script.lastIndexOf('rm -rf'));
      for (const p of s.packages) expect(s.script.slice(check)).toContain(`require('${p}')`);
    }
  });

  it('better-sqlite3 keeps only the addon it loads, which still opens an in-memory database', () => {
    const step = prunes().find((s) => s.packages.includes('better-sqlite3'))!;
    expect(step.script).toContain("':memory:'");
    const left = runPrune(step)['better-sqlite3']!;
    expect(left.filter((f) => !f.startsWith('lib/')).sort()).toEqual([
      'LICENSE',
      'README.md',
      'binding.gyp',
      'build/Release/better_sqlite3.node',
      'package.json',
    ]);
    expect(left).toContain('lib/index.js');
  });

  it('superjson keeps dist/, its code, and loses src/', () => {
    const step = prunes().find((s) => s.packages.includes('superjson'))!;
    const left = runPrune(step).superjson!;
    expect(left.filter((f) => f.startsWith('src/'))).toEqual([]);
    expect(left).toContain('dist/index.js');
  });
});

describe('.dockerignore', () => {
  it('leaves out node_modules, .git, the built dist, run state and .env files', () => {
    for (const p of [
      'node_modules',
      'node_modules/zod/package.json',
      '.git/HEAD',
      'dist/cli.js',
      '.opencode-flow/memory.json',
      'examples/code-review/sample/.opencode-flow/flows/x/meta.json',
      '.env',
      'examples/code-review/sample/.env',
      'npm-debug.log',
    ]) {
      expect(ignored(p), p).toBe(true);
    }
  });

  it('keeps every file of the repository under what the Dockerfile copies from the context', () => {
    const sources = stages
      .flatMap(copiesOf)
      .filter((c) => !c.from)
      .flatMap((c) => c.sources);
    // Tracked files and new ones not yet committed; not what .gitignore leaves out.
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', ...sources], {
      cwd: ROOT,
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean);
    for (const s of sources)
      expect(
        files.some((t) => t === s || t.startsWith(`${s}/`)),
        `${s} is in the repository`,
      ).toBe(true);
    expect(files.filter(ignored)).toEqual([]);
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
