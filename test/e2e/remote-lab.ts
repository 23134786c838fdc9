/**
 * A real sshd on loopback for the tests of src/remote (test/e2e/remote-*.test.ts), started by the
 * tests themselves: they need host keys swapped between runs, several host key types and a
 * stand-in `sudo`, which the fleet harness does not offer.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect } from 'vitest';
import type { NodeSpec, SshSettings } from '../../src/inventory/types.js';
import { fingerprintOf } from '../../src/remote/known-hosts.js';
import { type RemoteSession, openSession } from '../../src/remote/ssh-session.js';

export const host = '127.0.0.77';
export const portA = 22099; // ed25519 + rsa host keys, stand-in sudo on PATH
export const portB = 22100; // one ed25519 host key, restarted with another key
export const portClosed = 22101;
export const portSilent = 22102;

export let dir: string;
export const sshds = new Map<number, ChildProcess>();
/** sshd's log (-e) per port, to see which logins it accepted. */
export const sshdLogs = new Map<number, string>();
let agent: ChildProcess | undefined;
let silent: Server;
export const opened: RemoteSession[] = [];

/** Generates a key pair; returns the public line's type and blob. */
function keygen(name: string, type: 'ed25519' | 'rsa', passphrase = '') {
  const path = join(dir, name);
  const bits = type === 'rsa' ? ['-b', '2048'] : [];
  execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', passphrase, '-f', path]);
  const [keyType = '', b64 = ''] = readFileSync(`${path}.pub`, 'utf8').split(' ');
  return {
    path,
    line: `${keyType} ${b64}`,
    fingerprint: fingerprintOf(Buffer.from(b64, 'base64')),
  };
}
export let hostEd: ReturnType<typeof keygen>;
export let hostRsa: ReturnType<typeof keygen>;
export let hostB: ReturnType<typeof keygen>;
export let hostC: ReturnType<typeof keygen>;
export let client: ReturnType<typeof keygen>;
export let stranger: ReturnType<typeof keygen>;

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host, port }, () => resolve(true)).on('error', () =>
        resolve(false),
      );
      s.on('connect', () => s.destroy());
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`sshd on ${port} did not start`);
}

export async function startSshd(port: number, hostKeys: string[], extra = ''): Promise<void> {
  const config = join(dir, `sshd-${port}.conf`);
  writeFileSync(
    config,
    [
      `ListenAddress ${host}:${port}`,
      ...hostKeys.map((k) => `HostKey ${k}`),
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, `sshd-${port}.pid`)}`,
      // As on the fleet's nodes (src/loopback/sshd.ts): bash then skips the machine's root
      // .bashrc, whose pyenv or prompt set-up can hold every command for a minute.
      extra.startsWith('SetEnv ') ? `${extra} SHLVL=1` : `SetEnv SHLVL=1\n${extra}`,
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    sshdLogs.set(port, (sshdLogs.get(port) ?? '') + chunk.toString());
  });
  sshds.set(port, child);
  await waitForPort(port);
}

export async function stopSshd(port: number): Promise<void> {
  const child = sshds.get(port);
  sshds.delete(port);
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Every process below `pid`, deepest last. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, parent] of parents) {
      if (parent !== p) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

export function node(port: number, ssh: Partial<SshSettings> = {}): NodeSpec {
  return {
    name: `${host}:${port}`,
    host,
    ssh: {
      user: 'root',
      port,
      identityFile: client.path,
      knownHosts: join(dir, 'known_hosts'),
      sudo: false,
      connectTimeoutMs: 5_000,
      reconnectAfterMs: 300_000,
      ...ssh,
    },
    keyDir: dir,
    reload: 'true',
    check: 'true',
    config: '/dev/null',
    probe: {
      host,
      port: 443,
      servername: undefined,
      versions: ['TLSv1.3'],
      matrixMax: 4,
      ca: undefined,
      timeoutMs: 5_000,
      via: 'direct',
    },
    line: undefined,
  };
}

/** A known_hosts file with these lines; returns its path. */
export function knownHosts(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return path;
}

export async function open(spec: NodeSpec, acceptNewHostKey = false): Promise<RemoteSession> {
  const s = await openSession(spec, { acceptNewHostKey });
  opened.push(s);
  return s;
}

/** What openSession throws, asserting that it throws. */
export async function refusal(spec: NodeSpec, acceptNewHostKey = false): Promise<Error> {
  const err = await open(spec, acceptNewHostKey).then(
    () => new Error('connected'),
    (e: unknown) => e as Error,
  );
  expect(err.message).not.toBe('connected');
  return err;
}

/** Starts the agent the agent case logs in through; stopped with the lab. */
export function startAgent(sock: string): void {
  agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
}

/** Registers the lab's set-up and tear-down in the calling test file. */
export function useRemoteLab(): void {
  beforeAll(startLab);
  afterAll(stopLab);
}

async function startLab(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'stekctl-remote-'));
  hostEd = keygen('host_ed25519', 'ed25519');
  hostRsa = keygen('host_rsa', 'rsa');
  hostB = keygen('host_b', 'ed25519');
  hostC = keygen('host_c', 'ed25519');
  client = keygen('client', 'ed25519');
  stranger = keygen('stranger', 'ed25519');
  execFileSync('cp', [client.path, join(dir, 'client_enc')]);
  execFileSync('ssh-keygen', ['-q', '-p', '-N', 'secret', '-f', join(dir, 'client_enc')]);
  writeFileSync(join(dir, 'authorized_keys'), `${client.line}\n`);
  // A stand-in sudo that shows how it was called, then runs the rest.
  mkdirSync(join(dir, 'bin'));
  writeFileSync(
    join(dir, 'bin', 'sudo'),
    '#!/bin/sh\necho "sudo-argv:$*" >&2\n[ "$1" = -n ] && shift\nexec "$@"\n',
    { mode: 0o755 },
  );
  mkdirSync('/run/sshd', { recursive: true });
  await startSshd(portA, [hostEd.path, hostRsa.path], `SetEnv PATH=${dir}/bin:/usr/bin:/bin`);
  await startSshd(portB, [hostB.path]);
  silent = createServer(() => undefined).listen(portSilent, host);
  knownHosts('known_hosts', [
    `[${host}]:${portA} ${hostEd.line}`,
    `[${host}]:${portB} ${hostB.line}`,
  ]);
}

async function stopLab(): Promise<void> {
  await Promise.allSettled(opened.map((s) => s.close()));
  for (const port of [...sshds.keys()]) await stopSshd(port);
  agent?.kill('SIGTERM');
  silent?.close();
  rmSync(dir, { recursive: true, force: true });
}
