import { spawn, type ChildProcess } from 'node:child_process';

/**
 * How to stop a program when the demo is interrupted. `kill`: at once, for stekctl, whose fleet
 * is torn down anyway (a rollback against stopped nodes would only print failures). `terminate`:
 * SIGTERM and wait, for apt-get, which must not die in the middle of dpkg.
 */
export type StopPolicy = 'kill' | 'terminate';

/** The one program the demo waits for at a time (apt-get or stekctl), so a signal can stop it. */
let current: { child: ChildProcess; stop: StopPolicy } | undefined;

/**
 * Runs a program with the demo's own stdin, stdout and stderr, so its output (colours, the
 * overlap countdown) shows exactly as it would for a user. Resolves with its exit code; a death
 * by signal counts as 128 + the signal number, like a shell reports it.
 */
export function runInherited(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; stop: StopPolicy },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit', env: opts.env ?? process.env });
    const entry = { child, stop: opts.stop };
    current = entry;
    child.once('error', (e) => {
      if (current === entry) current = undefined;
      reject(e);
    });
    child.once('exit', (code, signal) => {
      if (current === entry) current = undefined;
      resolve(code ?? 128 + signalNumber(signal));
    });
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return (signal && numbers[signal]) ?? 1;
}

/** Stops the running program, if any, by its policy; the caller's await on it then ends. */
export function stopCurrentChild(): void {
  if (!current) return;
  const { child, stop } = current;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(stop === 'kill' ? 'SIGKILL' : 'SIGTERM');
}

/** For a second Ctrl-C: no more waiting, whatever the program. */
export function killCurrentChild(): void {
  current?.child.kill('SIGKILL');
}
