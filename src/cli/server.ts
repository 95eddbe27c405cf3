import { Command } from 'commander';

/**
 * `opencode-flow server status|stop`: the warm OpenCode servers of this project, those a
 * flow run left running for the next one (see `--keep-warm`).
 *
 * @example
 * ```ts
 * program.addCommand(serverCommand());
 * // $ opencode-flow server status
 * // $ opencode-flow server stop
 * ```
 */
export function serverCommand(): Command {
  const server = new Command('server').description(
    'show or stop the warm OpenCode servers flow runs left for the next run in this project',
  );
  server
    .command('status')
    .description("list this project's warm OpenCode servers")
    .option('--json', 'print them as JSON (passwords left out)')
    .action(async (opts: { json?: boolean }) => {
      const { listWarmServers } = await import('../opencode/warm.js');
      const { warmStateDir } = await import('./warm-run.js');
      const servers = (await listWarmServers(warmStateDir(process.cwd()))).map(({ password: _password, ...s }) => s);
      if (opts.json) {
        process.stdout.write(JSON.stringify(servers) + '\n');
        return;
      }
      if (servers.length === 0) {
        process.stdout.write('No warm OpenCode server for this project.\n');
        return;
      }
      for (const s of servers) {
        const used = s.users.length
          ? `in use by ${s.users.length} run(s)`
          : `idle; stops after ${Math.round(s.idleMs / 1000)} s without use`;
        process.stdout.write(`${s.key}  ${s.health.padEnd(8)}  ${s.url ?? '-'}  pid ${s.pid ?? '-'}  ${used}\n`);
      }
    });
  server
    .command('stop')
    .description("stop this project's warm OpenCode servers")
    .action(async () => {
      const { stopWarmServers } = await import('../opencode/warm.js');
      const { warmStateDir } = await import('./warm-run.js');
      const n = await stopWarmServers(warmStateDir(process.cwd()));
      process.stdout.write(
        n ? `Stopped ${n} warm OpenCode server(s).\n` : 'No warm OpenCode server was running for this project.\n',
      );
    });
  return server;
}
