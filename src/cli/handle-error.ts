import { CommanderError } from 'commander';
import type { ZodError } from 'zod';
import { formatZodIssues } from '../config/errors.js';
import { maskPasswords } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';

/** Exit codes of the CLI. */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2, Cancelled: 130 } as const;

const usageCodes: ReadonlySet<string> = new Set([
  FlowErrorCode.InvalidConfig,
  FlowErrorCode.UnknownAgent,
  FlowErrorCode.NoProvider,
  FlowErrorCode.FlowNotFound,
]);

/**
 * Turn any error into one clear line on stderr and the right exit code. Users never see a
 * stack trace for their own mistake; set `OPENCODE_FLOW_DEBUG=1` to see ours.
 */
export function handleError(err: unknown): never {
  let code: number = ExitCode.Failed;
  let message: string;
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      process.exit(0);
    process.exit(err.exitCode === 0 ? 0 : ExitCode.Usage);
  } else if (err instanceof Error && err.name === 'ExitPromptError') {
    // Ctrl-C at an --interactive prompt.
    code = ExitCode.Cancelled;
    message = 'cancelled';
  } else if (isZodError(err)) {
    code = ExitCode.Usage;
    message = `invalid options: ${formatZodIssues(err).join('; ')}`;
  } else if (err instanceof FlowError) {
    code = usageCodes.has(err.code)
      ? ExitCode.Usage
      : err.code === FlowErrorCode.Cancelled
        ? ExitCode.Cancelled
        : ExitCode.Failed;
    message = err.message;
  } else {
    message = err instanceof Error ? err.message : String(err);
  }
  // Last line of defence: a URL's password never reaches the terminal, whoever wrote the message.
  process.stderr.write(`opencode-flow: error: ${maskPasswords(message)}\n`);
  if (process.env.OPENCODE_FLOW_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(code);
}

/** A zod error, told by its shape: importing zod for an `instanceof` would load it on every start. */
function isZodError(err: unknown): err is ZodError {
  return err instanceof Error && err.name === 'ZodError' && Array.isArray((err as { issues?: unknown }).issues);
}
