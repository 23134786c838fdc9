import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FleetNode } from './fleet/index.js';

const bin = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const testStateDir = join(tmpdir(), `stekctl-test-state-${process.pid}`);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built stekctl binary as a user would, without a terminal; `wrap` runs it under
 * another command (`['prlimit', '--nofile=60']`).
 */
export function runCli(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; wrap?: string[] } = {},
): Promise<CliResult> {
  const [file, ...prefix] = [...(opts.wrap ?? []), process.execPath];
  return new Promise((resolve) => {
    execFile(
      file as string,
      [...prefix, bin, ...args],
      {
        // Audit lines of test runs go to a scratch state directory, not /var/lib/stekctl.
        env: { ...process.env, NO_COLOR: '1', STEKCTL_STATE_DIR: testStateDir, ...opts.env },
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 32 << 20,
      },
      (err, stdout, stderr) => {
        const code = err && typeof err.code === 'number' ? err.code : err ? -1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * Runs stekctl on a terminal (util-linux `script` gives it a pseudo-terminal) and types `answer`
 * once the question appears. `shellTail` is appended to the command line (`> file` to take stdout
 * off the terminal). The output is what the terminal showed, stdout and stderr together.
 */
export function runCliOnTerminal(
  args: string[],
  answer: string,
  shellTail = '',
): Promise<{ code: number; screen: string }> {
  const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, bin, ...args].map(quote).join(' ') + shellTail;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, NO_COLOR: '1', STEKCTL_STATE_DIR: testStateDir },
    });
    let screen = '';
    let asked = false;
    child.stdout.on('data', (b: Buffer) => {
      screen += b.toString('utf8');
      if (!asked && screen.includes('[y/N]')) {
        asked = true;
        child.stdin.write(`${answer}\n`);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, screen: screen.replaceAll('\r\n', '\n') });
    });
  });
}

/** Places hand-made nginx key files on a node, the way an operator would before stekctl. */
export async function placeNginxRing(node: FleetNode, keys: Buffer[]): Promise<void> {
  const lines: string[] = [];
  for (const key of keys) {
    const path = `${node.keyDir}/${key.subarray(0, 16).toString('hex')}.key`;
    await writeFile(path, key, { mode: 0o600 });
    lines.push(`ssl_session_ticket_key ${path};`);
  }
  await writeFile(`${node.keyDir}/tickets.conf`, lines.join('\n') + '\n', { mode: 0o600 });
}

export function newKey(size: 48 | 80 = 48): Buffer {
  return randomBytes(size);
}

export function keyId(key: Buffer): string {
  return key.subarray(0, 16).toString('hex');
}

/** Every way key bytes could leak into text: hex and base64 of the secret parts. */
export function secretFragments(key: Buffer): string[] {
  const secret = key.subarray(16);
  return [
    // Raw bytes too, as a terminal or a log would show them.
    secret.subarray(0, 12).toString('latin1'),
    secret.toString('hex'),
    secret.toString('base64').slice(0, 20),
    key.toString('base64').slice(24, 44),
  ];
}
