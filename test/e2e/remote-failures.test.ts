/** Why a connection failed, named for an operator: ports, timeouts, identities, agents. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectError } from '../../src/remote/errors.js';
import { openSession } from '../../src/remote/ssh-session.js';
import { describe, expect, it } from 'vitest';
import {
  host,
  portA,
  portClosed,
  portSilent,
  dir,
  client,
  stranger,
  node,
  open,
  refusal,
  startAgent,
  useRemoteLab,
} from './remote-lab.js';

useRemoteLab();

describe('connection failures', () => {
  it('reports a refused connection quickly', async () => {
    const t0 = Date.now();
    const err = await refusal(node(portClosed));
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.message).toBe(
      `cannot connect to ${host}:${portClosed}: connection refused (is sshd listening on that port?)`,
    );
    // Not after the connect timeout (5 s here).
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it('times out on a server that never speaks', async () => {
    const t0 = Date.now();
    const err = await refusal(node(portSilent, { connectTimeoutMs: 800 }));
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.message).toContain(`${host}:${portSilent}: timed out after 800 ms`);
    expect(Date.now() - t0).toBeLessThan(4_000);
  });

  it('stops connecting when the signal aborts', async () => {
    const t0 = Date.now();
    const err = await openSession(node(portSilent), { signal: AbortSignal.timeout(200) }).catch(
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as Error).message).toContain('cancelled');
    expect(Date.now() - t0).toBeLessThan(3_000);
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
    startAgent(sock);
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
