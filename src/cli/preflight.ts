import { optionsFromEnv } from '../flow/env.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { RunOptions } from './run-options.js';

/**
 * The provider pre-flight of a run, on its own, before anything is asked (`--interactive`):
 * the OpenCode server the run will use — the one `--server` names, this project's warm server
 * (started now when there is none: the run then attaches to it), or a server started for the
 * check alone with `--no-keep-warm` — must serve a model provider. Throws the run's own
 * "no model provider is configured" error otherwise; a warm server this check started is then
 * stopped again (a failed pre-flight keeps nothing warm).
 *
 * @example
 * ```ts
 * await checkProvidersFirst(flags); // throws FlowError no_provider on a fresh machine
 * const answered = await askRunOptions(flags);
 * ```
 */
export async function checkProvidersFirst(flags: RunOptions, cwd = process.cwd()): Promise<void> {
  const { OpencodeClient } = await import('../opencode/client.js');
  const { checkProviders } = await import('../flow/connection.js');
  const check = async (endpoint: { url: string; password?: string | undefined; username?: string | undefined }) => {
    const client = new OpencodeClient({ ...endpoint, directory: cwd });
    const { providers } = await client.providers();
    checkProviders(
      providers.map((p) => p.id),
      [flags.model].filter((m): m is string => Boolean(m)),
    );
  };
  if (flags.server) {
    const { splitServerUrls } = await import('../config/server-urls.js');
    const { attachOpencodeServer } = await import('../opencode/server.js');
    const env = optionsFromEnv();
    const server = await attachOpencodeServer({
      url: splitServerUrls(flags.server)[0]!,
      password: env.password,
      username: env.username,
    });
    return check(server);
  }
  const { keepNothingWarm, useWarmServer } = await import('./warm-run.js');
  const warm = await useWarmServer({ keepWarm: flags.keepWarm }, { directory: cwd });
  if (warm) {
    try {
      await check(warm.lease);
    } catch (e) {
      if (e instanceof FlowError && e.code === FlowErrorCode.NoProvider)
        await keepNothingWarm(warm, cwd, (l) => process.stderr.write(`${l}\n`));
      else await warm.lease.release();
      throw e;
    }
    return warm.lease.release();
  }
  const { startOpencodeServer } = await import('../opencode/server.js');
  const server = await startOpencodeServer({ cwd });
  try {
    await check(server);
  } finally {
    await server.stop();
  }
}
