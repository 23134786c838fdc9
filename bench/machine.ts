import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
  openssh: string;
  nginx: string;
  ansible: string;
}

/** First line a program prints about itself, on stdout or stderr (ssh -V and nginx -v use stderr). */
function versionOf(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.error) return 'not installed';
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
}

export function describeMachine(): Machine {
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // Not Linux: keep 'unknown'.
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    kernel,
    node: process.version,
    openssh: versionOf('ssh', ['-V']),
    nginx: versionOf('/usr/sbin/nginx', ['-v']).replace('nginx version: ', ''),
    ansible: versionOf('ansible-playbook', ['--version']),
  };
}
