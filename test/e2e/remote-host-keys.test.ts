/** Host keys checked against known_hosts before anything runs: every way a key can be refused. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HostKeyError } from '../../src/remote/errors.js';
import { openSession } from '../../src/remote/ssh-session.js';
import { describe, expect, it } from 'vitest';
import {
  host,
  portA,
  portB,
  sshdLogs,
  dir,
  hostEd,
  hostRsa,
  hostB,
  hostC,
  startSshd,
  stopSshd,
  node,
  knownHosts,
  open,
  refusal,
  useRemoteLab,
} from './remote-lab.js';

useRemoteLab();

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
