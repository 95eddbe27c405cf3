import { FlowError, type FlowErrorCode } from './errors.js';

/**
 * Loads an optional peer dependency on first use: better-sqlite3, pg and ioredis are only
 * installed by apps that use the SQLite, PostgreSQL or Redis backends, so a missing one is a
 * {@link FlowError} that names the package and the command that installs it, not Node's
 * "Cannot find package". `load` is the literal `import('…')`, so bundlers and types see it.
 *
 * @example
 * ```ts
 * const { default: pg } = await importPeer('pg', 'the postgres flow store', FlowErrorCode.InvalidConfig, () => import('pg'));
 * ```
 */
export async function importPeer<T>(
  name: string,
  what: string,
  code: FlowErrorCode,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const missing =
      (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') &&
      typeof err.message === 'string' &&
      err.message.includes(`'${name}'`);
    if (!missing) throw e;
    throw new FlowError(code, `${what} needs ${name}: npm install ${name}`, { cause: e });
  }
}
