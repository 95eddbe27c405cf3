#!/usr/bin/env node
import { packageInfo } from '../package-root.js';

// Start-up is part of the interface: `--version` loads nothing else, `--help` builds the
// commands without zod, XState or the SDK (each command imports those when it runs).
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  process.stdout.write(`${packageInfo().version}\n`);
} else {
  const [{ handleError }, { buildProgram }, { serveCommand }] = await Promise.all([
    import('./handle-error.js'),
    import('./program.js'),
    import('./serve.js'),
  ]);
  const program = buildProgram();
  program.addCommand(serveCommand());
  // .env is loaded before any command's action reads the environment; quiet, because `mcp`
  // owns stdout for its protocol. Help and usage errors never get here, so they skip it.
  // OpenTelemetry's Node SDK starts here, after .env, and only when the OTEL_* variables ask
  // for it (src/cli/telemetry.ts); the spans are flushed before the process ends.
  program.hook('preAction', async () => {
    const { config } = await import('dotenv');
    config({ quiet: true });
    await (await import('./telemetry.js')).startTelemetry();
  });
  program.parseAsync(process.argv).catch(handleError);
}
