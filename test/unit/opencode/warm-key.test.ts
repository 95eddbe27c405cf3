import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { warmServerKey } from '../../../src/opencode/warm.js';

/**
 * The warm server's key counts a config file by what OpenCode reads from it. OpenCode adds a
 * `"$schema"` line to the user's config on its first start (see shared/OPENCODE.md): a key on
 * the file's bytes made the second run start a second server. The real two-run case is in
 * test/cli/warm.int.test.ts.
 */
let root: string;
let env: Record<string, string>;
let userConfig: string;
const binary = process.execPath; // any file: the key stats it
const key = () => warmServerKey({ cwd: join(root, 'project'), env, binary });

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ocf-warm-key-'));
  await mkdir(join(root, 'project'), { recursive: true });
  await mkdir(join(root, 'home', '.config', 'opencode'), { recursive: true });
  env = { HOME: join(root, 'home'), XDG_CONFIG_HOME: join(root, 'home', '.config') };
  userConfig = join(root, 'home', '.config', 'opencode', 'opencode.json');
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('warmServerKey', () => {
  it('does not change when OpenCode adds "$schema" to a plain user config, nor with its formatting', async () => {
    await writeFile(userConfig, JSON.stringify({ model: 'scripted/small', share: 'disabled' }));
    const before = key();
    await writeFile(
      userConfig,
      JSON.stringify(
        { $schema: 'https://opencode.ai/config.json', share: 'disabled', model: 'scripted/small' },
        null,
        2,
      ),
    );
    expect(key()).toBe(before);
    await writeFile(userConfig, '{\n  // mine\n  "share": "disabled",\n  "model": "scripted/small",\n}\n');
    expect(key()).toBe(before);
  });

  it('changes with what OpenCode reads: a field, a value, a new file, a file that does not parse', async () => {
    await writeFile(userConfig, JSON.stringify({ model: 'scripted/small' }));
    const seen = new Set([key()]);
    await writeFile(userConfig, JSON.stringify({ model: 'scripted/large' }));
    seen.add(key());
    await writeFile(userConfig, JSON.stringify({ model: 'scripted/large', instructions: [] }));
    seen.add(key());
    await writeFile(join(root, 'project', 'opencode.json'), JSON.stringify({ model: 'scripted/large' }));
    seen.add(key());
    await writeFile(join(root, 'project', 'opencode.json'), '{ "model": ');
    seen.add(key());
    await writeFile(join(root, 'project', 'opencode.json'), '{ "model": "x"');
    seen.add(key());
    // A nested "$schema" is the user's (only the top-level one is OpenCode's).
    await writeFile(join(root, 'project', 'opencode.json'), JSON.stringify({ provider: { a: { $schema: 'x' } } }));
    seen.add(key());
    await writeFile(join(root, 'project', 'opencode.json'), JSON.stringify({ provider: { a: {} } }));
    seen.add(key());
    expect(seen.size).toBe(8);
  });
});
