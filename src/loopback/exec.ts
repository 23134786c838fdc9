import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fleetRoot, scratchPrefix } from './reaper.js';
import type { ShResult } from './types.js';

/** Commands name servers by bare name (`nginx -t`); a test runner's PATH may lack the sbin directories. */
const sbinPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunOptions {
  cwd?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/**
 * Runs a program with its output in files rather than pipes: a daemon it starts inherits the
 * descriptors, and a pipe held open by a daemon would keep the caller waiting for ever.
 */
export async function run(file: string, args: string[], opts: RunOptions = {}): Promise<ShResult> {
  const scratch = mkdtempSync(join(fleetRoot(), scratchPrefix));
  const outPath = join(scratch, 'out');
  const errPath = join(scratch, 'err');
  const out = openSync(outPath, 'w');
  const err = openSync(errPath, 'w');
  try {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: { ...process.env, PATH: sbinPath, ...opts.env },
      stdio: ['ignore', out, err],
      // Its own process group, so that a timeout takes down what it started in the foreground.
      detached: true,
    });
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const code = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // Already gone.
        }
        reject(new Error(`${file} ${args.join(' ')}: no exit after ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('exit', (status, sig) => {
        clearTimeout(timer);
        resolve(status ?? (sig ? 128 : 1));
      });
    });
    return { code, stdout: readFileSync(outPath, 'utf8'), stderr: readFileSync(errPath, 'utf8') };
  } finally {
    closeSync(out);
    closeSync(err);
    rmSync(scratch, { recursive: true, force: true });
  }
}

export function runShell(cmd: string, opts: RunOptions = {}): Promise<ShResult> {
  return run('/bin/sh', ['-c', cmd], opts);
}

/** Runs and throws with the command's output when it does not exit 0. */
export async function runChecked(
  file: string,
  args: string[],
  opts: RunOptions = {},
): Promise<ShResult> {
  const res = await run(file, args, opts);
  if (res.code !== 0) {
    const output = `${res.stderr}\n${res.stdout}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${file} ${args.join(' ')} exited ${res.code}:\n${output}`);
  }
  return res;
}
