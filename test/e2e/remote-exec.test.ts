/** Commands over a real SSH connection: output, stdin, sudo, timeouts, lost connections. */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandTimeoutError, ConnectError, HostKeyError } from '../../src/remote/errors.js';
import { closeSessions, openSessions } from '../../src/remote/session-pool.js';
import { Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import type { RemoteSession } from '../../src/remote/ssh-session.js';
import {
  host,
  portA,
  portB,
  portClosed,
  portSilent,
  sshds,
  dir,
  descendants,
  node,
  open,
  useRemoteLab,
} from './remote-lab.js';

useRemoteLab();

/** SIGKILL, unless the process is gone: killing sshd's session process may end its children. */
function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

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

  it('turns off Nagle on the SSH socket: input and its end leave without waiting for an ACK', async () => {
    const spy = vi.spyOn(Socket.prototype, 'setNoDelay');
    try {
      const s = await open(node(portA));
      const told = spy.mock.calls.filter(
        (args, i) => args[0] === true && (spy.mock.contexts[i] as Socket).remotePort === portA,
      );
      expect(told.length).toBeGreaterThan(0);
      expect((await s.exec('cat', { stdin: 'key\n' })).stdout).toBe('key\n');
    } finally {
      spy.mockRestore();
    }
  });

  it('stamps the arrival of a marker, even one split across two writes', async () => {
    const s = await open(node(portA));
    const started = Date.now();
    const res = await s.exec("printf 'before\\nREL'; sleep 0.3; printf 'OAD|\\n'; sleep 0.3", {
      markAt: 'RELOAD|',
    });
    expect(res.stdout).toBe('before\nRELOAD|\n');
    expect(res.markedAt).toBeGreaterThanOrEqual(started + 300);
    expect(res.markedAt).toBeLessThan(Date.now() - 200);
    expect((await s.exec('echo none', { markAt: 'RELOAD|' })).markedAt).toBeUndefined();
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
    // Not after the 4 s the command would take.
    expect(Date.now() - t0).toBeLessThan(3_000);
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
    for (const pid of serving) killIfAlive(pid);
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
