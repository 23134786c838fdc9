import { CommanderError } from 'commander';
import { ExitCode, StekError, NotRestoredError } from '../errors.js';
import { fillInvocation } from './invocation.js';
import { createTerminal } from './terminal.js';

/**
 * The one place that turns outcomes into exit codes. Expected failures are StekErrors and print as
 * one message plus a hint; anything else is a bug and prints without a stack trace unless
 * STEKCTL_DEBUG is set.
 */
export async function runMain(main: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await main();
  } catch (err) {
    code = reportError(err);
  }
  process.exitCode = code;
  // Let stdout drain before exiting: `stekctl status --json | jq` must get the whole document.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

export function reportError(err: unknown): number {
  const term = createTerminal(process.stderr);
  if (err instanceof CommanderError) {
    // Commander already printed help or the message; --help and --version exit 0, the rest is usage.
    return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (err instanceof StekError) {
    process.stderr.write(`${term.red('stekctl: error:')} ${fillInvocation(err.message)}\n`);
    if (err instanceof NotRestoredError && err.nodes.length > 0) {
      process.stderr.write(`needs a person: ${err.nodes.join(', ')}\n`);
    }
    if (err.hint) process.stderr.write(`${term.dim(fillInvocation(err.hint))}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${term.red('stekctl: unexpected error:')} ${message}\n`);
  if (process.env.STEKCTL_DEBUG && err instanceof Error && err.stack) {
    process.stderr.write(`${err.stack}\n`);
  } else {
    process.stderr.write(term.dim('set STEKCTL_DEBUG=1 for a stack trace\n'));
  }
  return ExitCode.failed;
}
