import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { thisMachine } from '../rotation/lock.js';
import type { PoolReport } from '../fleet/inspect-pools.js';
import type { PendingRotation } from '../servers/types.js';
import { parseLockText } from '../servers/node-state.js';
import { describeLock, describePending } from './render-status.js';

const key = 'ab'.repeat(16);
const now = new Date('2026-12-02T06:00:00.000Z');

/** A pool whose nodes record these pending rotations; every node holds the key's file. */
function poolWith(...pending: (PendingRotation | undefined)[]): PoolReport {
  return {
    pool: 'web',
    server: 'nginx',
    verdict: 'consistent',
    ring: [],
    faults: [],
    nodes: pending.map((p, i) => ({
      node: `n${i}`,
      state: {
        manifest: p === undefined ? undefined : { pending: p },
        files: [{ file: `${key}.key`, keyId: key }],
        ring: [],
      },
    })),
  } as unknown as PoolReport;
}

const staged = (promoteAfter: string | undefined): PendingRotation => ({
  phase: 'staged',
  keyId: key,
  started: '2026-12-02T05:59:00.000Z',
  ringBefore: [],
  promoteAfter,
});

describe('describePending', () => {
  it('says nothing when no rotation is under way', () => {
    expect(describePending(poolWith(undefined, undefined), now)).toBeUndefined();
  });

  it('says when a staged key may be promoted, and how', () => {
    expect(describePending(poolWith(staged('2026-12-02T06:10:00.000Z')), now)).toBe(
      'rotation in progress: key abababababab staged, may be promoted from 2026-12-02T06:10:00.000Z (in 10m); its run promotes it if one is under way, else `stekctl rotate -p web --promote` does',
    );
    expect(describePending(poolWith(staged('2026-12-02T05:00:00.000Z')), now)).toContain(
      'staged, may be promoted now;',
    );
  });

  it('names a promotion not yet retired, and a record on only some nodes', () => {
    const promoted = { ...staged(undefined), phase: 'promoted' as const };
    expect(describePending(poolWith(promoted, undefined, promoted), now)).toBe(
      'rotation in progress: key abababababab promoted on 2 of 3 nodes, not yet retired; its run finishes it if one is under way, else `stekctl rotate -p web` does',
    );
  });

  it('sends a stage recorded on only some nodes to a whole rotation, not to --promote', () => {
    const due = staged('2026-12-02T05:00:00.000Z');
    expect(describePending(poolWith(due, undefined, undefined), now)).toBe(
      'rotation in progress or stopped part-way: key abababababab staged on 1 of 3 nodes, which `rotate --promote` cannot finish; its run finishes it if one is under way, else `stekctl rotate -p web` does, bringing every node to one ring',
    );
  });
});

describe('describePending: a staged key a node no longer holds', () => {
  it('counts only the nodes that record the stage', () => {
    const pool = poolWith(staged(undefined), undefined);
    pool.nodes[1]!.state!.files = [];
    expect(describePending(pool, now)).toContain('staged on 1 of 2 nodes');
  });

  it('sends the operator to a whole rotation, naming the node', () => {
    const pool = poolWith(staged(undefined), staged(undefined));
    const second = pool.nodes[1]!.state!;
    second.files = [];
    expect(describePending(pool, now)).toBe(
      'rotation stopped part-way: key abababababab staged, but n1 no longer holds it, which `rotate --promote` cannot finish; `stekctl rotate -p web` rotates to a new key, bringing every node to one ring',
    );
  });
});

describe('describeLock', () => {
  const locked = (...texts: (string | undefined)[]): PoolReport =>
    ({
      pool: 'web',
      nodes: texts.map((t, i) => ({
        node: `n${i}`,
        state: t === undefined ? {} : { lock: parseLockText(t) },
      })),
    }) as unknown as PoolReport;
  const holder = (expires: string) =>
    JSON.stringify({
      runId: 'r1',
      host: 'ops1',
      pid: 4242,
      user: 'deploy',
      started: '2026-12-02T05:50:00.000Z',
      expires,
    });

  it('says nothing for a pool no run holds', () => {
    expect(describeLock(locked(undefined, undefined), now)).toBeUndefined();
  });

  it('names the run holding the lock, on how many nodes, and until when', () => {
    expect(describeLock(locked(holder('2026-12-02T06:20:00.000Z'), undefined), now)).toBe(
      'locked by deploy@ops1 (pid 4242) since 2026-12-02T05:50:00.000Z on 1 of 2 nodes, until 2026-12-02T06:20:00.000Z: a run under way, or one that died (a run on ops1 breaks it at once when that process is gone, any run once it has expired)',
    );
  });

  it("says a lock of this machine's is left by a process that is gone", () => {
    const text = JSON.stringify({
      ...(JSON.parse(holder('2026-12-02T06:20:00.000Z')) as object),
      host: hostname(),
      pid: 2 ** 22 + 1,
      machine: thisMachine(),
    });
    expect(describeLock(locked(text), now)).toContain(
      `until 2026-12-02T06:20:00.000Z, but held by process ${2 ** 22 + 1} on this machine, which is no longer running: the next run from here breaks it`,
    );
  });

  it('says an expired lock is broken by the next run, and an unreadable one by hand', () => {
    expect(describeLock(locked(holder('2026-12-02T05:55:00.000Z')), now)).toContain(
      'expired at 2026-12-02T05:55:00.000Z: the next run breaks it',
    );
    expect(describeLock(locked('not json\u001b[31m'), now)).toBe(
      'locked by ?@? since ?, an unreadable lock: `rotate --break-lock` removes it once you know no run holds it',
    );
  });
});
