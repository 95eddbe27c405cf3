import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlowError, FlowErrorCode } from '../../src/errors.js';
import { flowNamespace } from '../../src/memory/namespace.js';
import { needRedis } from '../helpers/services.js';
import { allKits, fileKit, kitSkipped, removeTempDirs, tempDir } from './helpers.js';

const TRAVERSAL_KEYS = [
  '../../etc/passwd',
  '../memory.json',
  '..',
  'a/../../b',
  '/etc/passwd',
  './x',
  'x/..',
  '..\\..\\windows',
  '%2e%2e/etc',
  'a\u0000b',
];
const TRAVERSAL_NAMESPACES = [
  'flow:x/..',
  'flow:x/../../etc',
  '../flow:x',
  '..',
  'flow/..',
  'flow:..',
  'shared/../flow:other',
];

const redis = await needRedis();

for (const kit of allKits())
  describe.skipIf(kitSkipped(kit, redis))(`path traversal: ${kit.name} backend`, () => {
    afterAll(() => kit.cleanup());

    it('rejects traversal keys and namespaces with a memory error', async () => {
      const memory = await kit.open();
      for (const key of TRAVERSAL_KEYS) {
        for (const attempt of [
          () => memory.set('flow:x', key, 'pwned'),
          () => memory.get('flow:x', key),
          () => memory.delete('flow:x', key),
        ]) {
          const e = await attempt().catch((err: unknown) => err);
          expect(e, key).toBeInstanceOf(FlowError);
          expect((e as FlowError).code).toBe(FlowErrorCode.Memory);
        }
      }
      for (const ns of TRAVERSAL_NAMESPACES) {
        const e = await memory.set(ns, 'k', 'pwned').catch((err: unknown) => err);
        expect(e, ns).toBeInstanceOf(FlowError);
        expect((e as FlowError).message).toMatch(/invalid memory namespace/);
      }
      expect(() => flowNamespace('../x')).toThrow(/invalid flow id/);
      expect(() => flowNamespace('a/b')).toThrow(/invalid flow id/);
      expect(await memory.list('flow:x')).toEqual([]);
    });
  });

describe('file backend: keys never touch the file system', () => {
  const kit = fileKit();
  afterAll(() => kit.cleanup());
  afterAll(() => removeTempDirs());

  it('keeps writing the one file, whatever the key looks like; nothing appears outside it', async () => {
    const memory = await kit.open();
    const path = kit.uri().slice('file:'.length);
    const dir = dirname(path);
    const outside = await tempDir();
    // Keys that look like paths are plain data.
    await memory.set('flow:x', 'etc/passwd', 'data');
    await memory.set('flow:x', 'C:/windows/system32', 'data');
    await memory.set('flow:x', 'a/b/c.json', 'data');
    for (const key of TRAVERSAL_KEYS) await memory.set('flow:x', key, 'pwned').catch(() => undefined);
    for (const ns of TRAVERSAL_NAMESPACES) await memory.set(ns, 'k', 'pwned').catch(() => undefined);

    // While open: the lock and the journal beside the file; after close, the file holds it all.
    expect(
      (await readdir(dir)).filter((n) => !['memory.json', 'memory.json.lock', 'memory.json.log'].includes(n)),
    ).toEqual([]);
    expect(await readdir(outside)).toEqual([]);
    await expect(stat(join(dir, 'etc'))).rejects.toThrow();
    await memory.close();
    expect(await readdir(dir)).toEqual(['memory.json']);
    const stored = JSON.parse(await readFile(path, 'utf8')) as { namespaces: Record<string, Record<string, unknown>> };
    expect(Object.keys(stored.namespaces)).toEqual(['flow:x']);
    expect(Object.keys(stored.namespaces['flow:x']!).sort()).toEqual([
      'C:/windows/system32',
      'a/b/c.json',
      'etc/passwd',
    ]);
    expect(JSON.stringify(stored)).not.toContain('pwned');
  });
});
