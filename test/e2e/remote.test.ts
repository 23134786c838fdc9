/**
 * src/remote against a real sshd on loopback. The sshd here is started by the test itself: the
 * cases need host keys swapped between runs, several host key types and a stand-in `sudo`, which
 * the fleet harness does not offer.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { type Server, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSpec, SshSettings } from '../../src/inventory/types.js';
import { CommandTimeoutError, ConnectError, HostKeyError } from '../../src/remote/errors.js';
import { fingerprintOf } from '../../src/remote/known-hosts.js';
import { closeSessions, openSessions } from '../../src/remote/session-pool.js';
import { type RemoteSession, openSession } from '../../src/remote/ssh-session.js';

const host = '127.0.0.77';
const portA = 22099; // ed25519 + rsa host keys, stand-in sudo on PATH
const portB = 22100; // one ed25519 host key, restarted with another key
const portClosed = 22101;
const portSilent = 22102;

let dir: string;
const sshds = new Map<number, ChildProcess>();
/** sshd's log (-e) per port, to see which logins it accepted. */
const sshdLogs = new Map<number, string>();
let agent: ChildProcess | undefined;
let silent: Server;
const opened: RemoteSession[] = [];

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
let hostEd: ReturnType<typeof keygen>;
let hostRsa: ReturnType<typeof keygen>;
let hostB: ReturnType<typeof keygen>;
let hostC: ReturnType<typeof keygen>;
let client: ReturnType<typeof keygen>;
let stranger: ReturnType<typeof keygen>;

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

async function startSshd(port: number, hostKeys: string[], extra = ''): Promise<void> {
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
      extra,
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

async function stopSshd(port: number): Promise<void> {
  const child = sshds.get(port);
  sshds.delete(port);
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Every process below `pid`, deepest last. */
function descendants(pid: number): number[] {
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

function node(port: number, ssh: Partial<SshSettings> = {}): NodeSpec {
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
function knownHosts(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return path;
}

async function open(spec: NodeSpec, acceptNewHostKey = false): Promise<RemoteSession> {
  const s = await openSession(spec, { acceptNewHostKey });
  opened.push(s);
  return s;
}

/** What openSession throws, asserting that it throws. */
async function refusal(spec: NodeSpec, acceptNewHostKey = false): Promise<Error> {
  const err = await open(spec, acceptNewHostKey).then(
    () => new Error('connected'),
    (e: unknown) => e as Error,
  );
  expect(err.message).not.toBe('connected');
  return err;
}

beforeAll(async () => {
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
});

afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  for (const port of [...sshds.keys()]) await stopSshd(port);
  agent?.kill('SIGTERM');
  silent?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('exec', () => {
  it('returns stdout, stderr and the exit code', async () => {
    const s = await open(node(portA));
    expect(await s.exec('printf "out ✓\\n"; echo err >&2; exit 3')).toEqual({
      code: 3,
      signal: null,
      stdout: 'out ✓\n',
      stderr: 'err\n',
    });
    expect((await s.exec('id -u')).stdout).toBe('0\n');
    expect((await s.exec('kill -9 $$')).signal).toBe('SIGKILL');
  });

  it('passes binary stdin through unchanged and closes it', async () => {
    const s = await open(node(portA));
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const res = await s.exec('sha256sum', { stdin: data });
    expect(res.stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
    expect((await s.exec('wc -c', { stdin: 'héllo\n' })).stdout.trim()).toBe('7');
    expect((await s.exec('cat')).stdout).toBe('');
  });

  it('wraps commands in sudo -n sh -c when the node asks for sudo', async () => {
    const s = await open(node(portA, { sudo: true }));
    const res = await s.exec(`echo "it's $((1+1))"; echo done >&2`);
    expect(res.stdout).toBe("it's 2\n");
    expect(res.stderr).toBe(`sudo-argv:-n sh -c echo "it's $((1+1))"; echo done >&2\ndone\n`);
    const plain = await open(node(portA, { sudo: false }));
    expect((await plain.exec('echo plain')).stderr).toBe('');
  });

  it('stops a command at its timeout and keeps the session usable', async () => {
    const s = await open(node(portA));
    const t0 = Date.now();
    const err = await s.exec('sleep 4', { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandTimeoutError);
    expect((err as Error).message).toContain('timed out after 300 ms');
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect((await s.exec('echo ok')).stdout).toBe('ok\n');
  });

  it('rejects with ConnectError when the connection drops mid-command', async () => {
    const s = await open(node(portB));
    await s.exec('true');
    const pending = s.exec('sleep 30; echo never').catch((e: unknown) => e);
    await sleep(500);
    // The session's sshd process (parent first), its shell and the sleep.
    const serving = descendants(sshds.get(portB)?.pid ?? 0);
    expect(serving.length).toBeGreaterThanOrEqual(2);
    const t0 = Date.now();
    for (const pid of serving) process.kill(pid, 'SIGKILL');
    const err = await pending;
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as Error).message).toBe(
      `connection to ${host}:${portB} lost during: sleep 30; echo never`,
    );
    expect(Date.now() - t0).toBeLessThan(3_000);
    await expect(s.exec('true')).rejects.toThrow(/lost before: true/);
  });

  it('refuses to run after close, and close is idempotent', async () => {
    const s = await open(node(portA));
    await s.close();
    await s.close();
    await expect(s.exec('true')).rejects.toBeInstanceOf(ConnectError);
  });
});

describe('host keys', () => {
  it('accepts a hashed known_hosts entry', async () => {
    const file = knownHosts('kh-hashed', [`[${host}]:${portA} ${hostEd.line}`]);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).toMatch(/^\|1\|/);
    const s = await open(node(portA, { knownHosts: file }));
    expect((await s.exec('echo ok')).stdout).toBe('ok\n');
  });

  it('asks for the key type already known first, as ssh does', async () => {
    const file = knownHosts('kh-rsa', [`[${host}]:${portA} ${hostRsa.line}`]);
    const s = await open(node(portA, { knownHosts: file }));
    expect((await s.exec('echo ok')).stdout).toBe('ok\n');
  });

  it('refuses an unknown host key before anything runs', async () => {
    const marker = join(dir, 'marker-unknown');
    const logins = (): number => (sshdLogs.get(portA) ?? '').split('Accepted publickey').length;
    const loginsBefore = logins();
    for (const file of [knownHosts('kh-other', [`otherhost ${hostEd.line}`]), join(dir, 'none')]) {
      // What a caller does: connect, then run something.
      const err = await openSession(node(portA, { knownHosts: file }))
        .then((s) => s.exec(`touch ${marker}`))
        .then(
          () => new Error('ran'),
          (e: unknown) => e as Error,
        );
      expect(err).toBeInstanceOf(HostKeyError);
      expect(err.message).toContain('host key');
      expect(err.message).toContain(`${host}:${portA}`);
      expect(err.message).toContain(hostEd.fingerprint);
      expect(err.message).toMatch(/ssh-keyscan|--accept-new/);
      expect((err as HostKeyError).status).toBe('unknown');
      expect((err as HostKeyError).hint).toContain(`ssh-keyscan -p ${portA} -t ed25519 ${host}`);
    }
    await sleep(200);
    expect(existsSync(marker)).toBe(false);
    expect(logins()).toBe(loginsBefore);
    expect(existsSync(join(dir, 'none'))).toBe(false);
  });

  it('refuses a changed host key, even with acceptNewHostKey', async () => {
    const file = knownHosts('kh-changed', ['# fleet', `[${host}]:${portA} ${hostB.line}`]);
    for (const accept of [false, true]) {
      const err = await refusal(node(portA, { knownHosts: file }), accept);
      expect(err).toBeInstanceOf(HostKeyError);
      expect(err.message).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
      expect(err.message).toContain(`${file} line 2`);
      expect(err.message).toContain(hostEd.fingerprint);
      expect(err.message).toContain(hostB.fingerprint);
    }
    expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(3);
  });

  it('refuses a revoked host key', async () => {
    const file = knownHosts('kh-revoked', [
      `[${host}]:${portA} ${hostEd.line}`,
      `@revoked * ${hostEd.line}`,
    ]);
    const err = await refusal(node(portA, { knownHosts: file }), true);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).status).toBe('revoked');
    expect(err.message).toContain('revoked');
  });

  it('records a new key with acceptNewHostKey, then refuses a change of it', async () => {
    const file = join(dir, 'fresh', 'known_hosts');
    const s = await open(node(portB, { knownHosts: file }), true);
    expect((await s.exec('echo ok')).stdout).toBe('ok\n');
    await s.close();
    expect(readFileSync(file, 'utf8')).toBe(`[${host}]:${portB} ${hostB.line}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await open(node(portB, { knownHosts: file })); // now known: no acceptance needed

    await stopSshd(portB);
    await startSshd(portB, [hostC.path]);
    const err = await refusal(node(portB, { knownHosts: file }), true);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).status).toBe('changed');
    expect(err.message).toContain(hostC.fingerprint);
    expect(readFileSync(file, 'utf8')).toBe(`[${host}]:${portB} ${hostB.line}\n`);
    await stopSshd(portB);
    await startSshd(portB, [hostB.path]);
  });
});

describe('connection failures', () => {
  it('reports a refused connection quickly', async () => {
    const t0 = Date.now();
    const err = await refusal(node(portClosed));
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.message).toBe(
      `cannot connect to ${host}:${portClosed}: connection refused (is sshd listening on that port?)`,
    );
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('times out on a server that never speaks', async () => {
    const t0 = Date.now();
    const err = await refusal(node(portSilent, { connectTimeoutMs: 800 }));
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.message).toContain(`${host}:${portSilent}: timed out after 800 ms`);
    expect(Date.now() - t0).toBeLessThan(2_500);
  });

  it('stops connecting when the signal aborts', async () => {
    const t0 = Date.now();
    const err = await openSession(node(portSilent), { signal: AbortSignal.timeout(200) }).catch(
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as Error).message).toContain('cancelled');
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it('says whose authentication failed', async () => {
    const err = await refusal(node(portA, { identityFile: stranger.path }));
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.message).toContain(
      `authentication failed for root@${host} (tried ${stranger.path})`,
    );
  });

  it('names an identity file that is missing or encrypted without an agent', async () => {
    const saved = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      const missing = join(dir, 'no-such-key');
      await expect(open(node(portA, { identityFile: missing }))).rejects.toThrow(
        `cannot read identity file ${missing}: no such file`,
      );
      const enc = join(dir, 'client_enc');
      await expect(open(node(portA, { identityFile: enc }))).rejects.toThrow(
        `identity file ${enc} is encrypted and no ssh-agent is available`,
      );
    } finally {
      if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
    }
  });

  it('logs in through ssh-agent, also for an encrypted identity file', async () => {
    const sock = join(dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(20);
    execFileSync('ssh-add', ['-q', client.path], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    const saved = process.env.SSH_AUTH_SOCK;
    process.env.SSH_AUTH_SOCK = sock;
    try {
      for (const identityFile of [undefined, join(dir, 'client_enc')]) {
        const s = await open(node(portA, { identityFile }));
        expect((await s.exec('echo agent')).stdout).toBe('agent\n');
      }
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
    }
  });
});

describe('openSessions', () => {
  it('connects in parallel and keeps one failure from stopping the others', async () => {
    const nodes = [
      node(portA),
      node(portClosed),
      node(portB, { knownHosts: join(dir, 'none') }),
      node(portSilent, { connectTimeoutMs: 800 }),
    ];
    const sessions = await openSessions(nodes, { concurrency: 2 });
    expect([...sessions.keys()]).toEqual(nodes.map((n) => n.name));
    const good = sessions.get(nodes[0]!.name);
    expect(good).not.toBeInstanceOf(Error);
    expect((await (good as RemoteSession).exec('echo ok')).stdout).toBe('ok\n');
    expect(sessions.get(nodes[1]!.name)).toBeInstanceOf(ConnectError);
    expect(sessions.get(nodes[2]!.name)).toBeInstanceOf(HostKeyError);
    expect(sessions.get(nodes[3]!.name)).toBeInstanceOf(ConnectError);
    await closeSessions(sessions);
    await expect((good as RemoteSession).exec('true')).rejects.toBeInstanceOf(ConnectError);
  });
});
