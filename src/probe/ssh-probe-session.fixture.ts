import { spawn } from 'node:child_process';
import type { ExecResult, RemoteSession } from '../remote/ssh-session.js';

/** Runs commands on this machine, the way an SSH session runs them on a node. */
export function localSession(
  outputs: string[] = [],
  node = 'prober',
  onClose: () => void = () => undefined,
): RemoteSession {
  return {
    node,
    open: true,
    exec(command, opts = {}) {
      return new Promise<ExecResult>((resolve, reject) => {
        const child = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (c: Buffer) => out.push(c));
        child.stderr.on('data', (c: Buffer) => err.push(c));
        const timer =
          opts.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                child.kill('SIGKILL');
                reject(new Error(`timed out: ${command.slice(0, 40)}`));
              }, opts.timeoutMs);
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          outputs.push(Buffer.concat(out).toString('utf8'), Buffer.concat(err).toString('utf8'));
          resolve({
            code,
            signal,
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
          });
        });
        // A command that exits without reading its input must not fail the write.
        child.stdin.on('error', () => undefined);
        child.stdin.end(opts.stdin ?? '');
      });
    },
    close: () => {
      onClose();
      return Promise.resolve();
    },
  };
}
