import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NodeSpec, PoolSpec } from '../inventory/types.js';
import type { RemoteSession } from '../remote/ssh-session.js';
import { openPoolProber, probeViaOf } from './ssh-probe-pool.js';
import { localNodeSpec } from '../servers/node-spec.fixture.js';
import { localSession } from './ssh-probe-session.fixture.js';
import { makeTarget } from './tls-servers.fixture.js';
import { directProber } from './verify-pool.js';

function nodeSpec(name: string, via: 'direct' | 'ssh'): NodeSpec {
  const base = localNodeSpec('/k', { name, host: name, config: '/c', line: undefined });
  return { ...base, probe: { ...base.probe, host: name, versions: ['TLSv1.3'], via } };
}

function poolOf(...vias: ('direct' | 'ssh')[]): PoolSpec {
  return {
    name: 'web',
    server: 'nginx',
    keySize: 48,
    overlapMs: 0,
    retain: 1,
    nodes: vias.map((via, i) => nodeSpec(`n${i + 1}`, via)),
    line: undefined,
  };
}

/** Connects n1 only when `up` names it; records what was closed. */
function fakeConnect(up: string[], closed: string[]) {
  return (node: NodeSpec): Promise<RemoteSession> =>
    up.includes(node.name)
      ? Promise.resolve(localSession([], node.name, () => closed.push(node.name)))
      : Promise.reject(new Error(`${node.name}: connection refused`));
}

describe('openPoolProber', () => {
  it('probes directly unless a node asks for SSH', async () => {
    expect(probeViaOf(poolOf('direct', 'direct'))).toBe('direct');
    expect(probeViaOf(poolOf('direct', 'ssh'))).toBe('ssh');
    const opened = await openPoolProber(poolOf('direct'), {
      acceptNewHostKey: false,
      connect: () => Promise.reject(new Error('must not connect')),
    });
    expect(opened).toMatchObject({ via: 'direct', probedFrom: undefined, failures: [] });
    expect(opened.prober).toBe(directProber);
    await opened.close();
  });

  it('runs on the first node that accepts, on a connection of its own that close() ends', async () => {
    const closed: string[] = [];
    const opened = await openPoolProber(poolOf('ssh', 'ssh', 'ssh'), {
      acceptNewHostKey: false,
      connect: fakeConnect(['n2', 'n3'], closed),
    });
    expect(opened).toMatchObject({ via: 'ssh', probedFrom: 'n2', failures: [] });
    const dir = (opened.prober as unknown as { dir: string }).dir;
    expect(existsSync(dir)).toBe(true);
    await opened.close();
    expect(existsSync(dir)).toBe(false);
    expect(closed).toEqual(['n2']);
  });

  it('reuses and keeps open a connection the caller holds', async () => {
    const closed: string[] = [];
    const pool = poolOf('ssh', 'ssh');
    const sessions = new Map<NodeSpec, RemoteSession>();
    const opened = await openPoolProber(pool, {
      acceptNewHostKey: false,
      sessions,
      connect: fakeConnect(['n1'], closed),
    });
    expect(opened.probedFrom).toBe('n1');
    expect(sessions.get(pool.nodes[0]!)?.node).toBe('n1');
    await opened.close();
    expect(closed).toEqual([]);
  });

  it('names every node tried when none can run the probes, whose probes then fail', async () => {
    const pool = poolOf('ssh', 'ssh', 'ssh', 'ssh');
    const opened = await openPoolProber(pool, {
      acceptNewHostKey: false,
      connect: fakeConnect([], []),
    });
    expect(opened.probedFrom).toBeUndefined();
    expect(opened.failures).toEqual([
      { node: 'n1', reason: 'n1: connection refused' },
      { node: 'n2', reason: 'n2: connection refused' },
      { node: 'n3', reason: 'n3: connection refused' },
    ]);
    await expect(
      opened.prober.takeTicket(makeTarget('n1', 1), 'TLSv1.3', {}),
    ).rejects.toMatchObject({ code: 'unreachable' });
    await opened.close();
  });
});
