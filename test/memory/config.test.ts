import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlowError, FlowErrorCode } from '../../src/errors.js';
import {
  createMemoryBackend,
  MemoryConfigSchema,
  parseMemoryUri,
  resolveMemoryConfig,
} from '../../src/memory/config.js';
import { FileMemoryBackend } from '../../src/memory/file.js';
import { RedisMemoryBackend } from '../../src/memory/redis.js';
import { SqliteMemoryBackend } from '../../src/memory/sqlite.js';
import { needRedis } from '../helpers/services.js';
import { deleteRedisPrefix, FIXTURES, REDIS_URL, REPO_ROOT, removeTempDirs, tempDir, uniquePrefix } from './helpers.js';

const redisService = await needRedis();

describe('parseMemoryUri', () => {
  it.each([
    ['file:.opencode-flow/memory.json', { backend: 'file', path: '.opencode-flow/memory.json' }],
    ['file:///var/lib/flow/memory.json', { backend: 'file', path: '/var/lib/flow/memory.json' }],
    ['sqlite:./flow.db', { backend: 'sqlite', path: './flow.db' }],
    ['sqlite:/abs/flow.db', { backend: 'sqlite', path: '/abs/flow.db' }],
    ['sqlite:///abs/flow.db', { backend: 'sqlite', path: '/abs/flow.db' }],
    ['sqlite::memory:', { backend: 'sqlite', path: ':memory:' }],
    ['redis://127.0.0.1:6379/0', { backend: 'redis', url: 'redis://127.0.0.1:6379/0', prefix: 'opencode-flow:' }],
    ['redis://127.0.0.1:6379', { backend: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'opencode-flow:' }],
    ['rediss://u:p@cache:6380/2?prefix=ci:', { backend: 'redis', url: 'rediss://u:p@cache:6380/2', prefix: 'ci:' }],
  ])('%s', (uri, expected) => {
    expect(parseMemoryUri(uri)).toEqual(expected);
    expect(MemoryConfigSchema.parse(expected)).toEqual(expected);
  });

  it.each([
    ['', /empty/],
    ['memory.json', /no scheme.*file:PATH, sqlite:PATH or redis:\/\/HOST:PORT\/DB/],
    ['C:\\flows\\memory.json', /no scheme/],
    ['postgres://db/x', /unknown memory URI scheme "postgres:"/],
    ['sqlite:', /no database path/],
    ['file:', /has no file path; e.g. file:\.opencode-flow\/memory\.json/],
    ['redis://', /no host/],
    ['redis://127.0.0.1:6379/zero', /database "zero" must be a number/],
    ['redis://h:6379/0?prefix=', /prefix= must not be empty/],
    ['file://relative/path', /needs an absolute path/],
  ])('rejects %j', (uri, message) => {
    const e = (() => {
      try {
        parseMemoryUri(uri);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(FlowError);
    expect((e as FlowError).code).toBe(FlowErrorCode.InvalidConfig);
    expect((e as FlowError).message).toMatch(message);
  });

  it('never echoes a redis password in errors', () => {
    expect(() => parseMemoryUri('redis://user:s3cret@h:6379/x')).toThrow(/user:\*\*\*@/);
    expect(() => parseMemoryUri('redis://user:s3cret@h:6379/x')).not.toThrow(/s3cret/);
  });
});

describe('MemoryConfigSchema / resolveMemoryConfig', () => {
  it('fills defaults', () => {
    expect(resolveMemoryConfig(undefined)).toEqual({ backend: 'file', path: '.opencode-flow/memory.json' });
    expect(resolveMemoryConfig({ backend: 'file' })).toEqual({ backend: 'file', path: '.opencode-flow/memory.json' });
    expect(resolveMemoryConfig({ backend: 'redis', url: 'redis://h:1/0' })).toEqual({
      backend: 'redis',
      url: 'redis://h:1/0',
      prefix: 'opencode-flow:',
    });
    expect(resolveMemoryConfig('sqlite:x.db')).toEqual({ backend: 'sqlite', path: 'x.db' });
  });

  it.each([
    [{ backend: 'mongo' }, /backend/],
    [{ backend: 'sqlite' }, /path/],
    [{ backend: 'redis', url: 'http://x' }, /redis:\/\/ or rediss:\/\/ URL[\s\S]*at url/],
    [{ backend: 'file', path: 'x', extra: 1 }, /extra/],
    [{ backend: 'file', maxValueBytes: -1 }, /maxValueBytes/],
    [{ backend: 'file', fsyncDirectory: 'yes' }, /fsyncDirectory/],
  ])('rejects %j naming the field', (config, message) => {
    expect(() => resolveMemoryConfig(config as never)).toThrow(message);
    expect(() => resolveMemoryConfig(config as never)).toThrow(/invalid memory config/);
  });
});

describe('createMemoryBackend', () => {
  const prefixes: string[] = [];
  afterAll(() => Promise.all(prefixes.map(deleteRedisPrefix)));
  afterAll(() => removeTempDirs());

  it('opens the file and sqlite backends from a config or URI, resolving paths against cwd', async () => {
    const dir = await tempDir();
    const file = await createMemoryBackend({ backend: 'file' }, { cwd: dir });
    expect(file).toBeInstanceOf(FileMemoryBackend);
    expect((file as FileMemoryBackend).path).toBe(join(dir, '.opencode-flow/memory.json'));
    await file.close();
    const durable = await createMemoryBackend(
      { backend: 'file', path: 'durable.json', fsyncDirectory: true },
      { cwd: dir },
    );
    await durable.set('flow:x', 'k', 'kept');
    await durable.close();
    const reread = await createMemoryBackend(`file:${join(dir, 'durable.json')}`);
    expect((await reread.get('flow:x', 'k'))!.value).toBe('kept');
    await reread.close();
    const sqlite = await createMemoryBackend('sqlite:data/flow.db', { cwd: dir });
    expect(sqlite).toBeInstanceOf(SqliteMemoryBackend);
    expect((sqlite as SqliteMemoryBackend).path).toBe(join(dir, 'data/flow.db'));
    await sqlite.close();
  });

  it.skipIf(!redisService.up)('opens a redis backend from a config, with its prefix and value limit', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const redis = await createMemoryBackend({ backend: 'redis', url: REDIS_URL, prefix, maxValueBytes: 10 });
    expect(redis).toBeInstanceOf(RedisMemoryBackend);
    expect(redis.maxValueBytes).toBe(10);
    await redis.set('shared', 'k', 'ok');
    await redis.close();
  });

  it('fails clearly when redis is unreachable', async () => {
    const e = await createMemoryBackend('redis://127.0.0.1:1/0').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(FlowError);
    expect((e as FlowError).message).toMatch(/cannot connect to redis memory at redis:\/\/127\.0\.0\.1:1\/0/);
  });

  it('the file default loads neither better-sqlite3 nor ioredis', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES, 'loaded-drivers.ts')], {
        cwd: REPO_ROOT,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(stderr))));
    });
    expect(JSON.parse(out)).toEqual({
      afterFile: { sqlite: false, redis: false },
      afterSqlite: { sqlite: true, redis: false },
    });
  });
});
