import { describe, expect, it } from 'vitest';
import type { PoolReport } from '../fleet/inspect-pools.js';
import type { PendingRotation } from '../servers/types.js';
import { describePending } from './render-status.js';

const key = 'ab'.repeat(16);
const now = new Date('2026-12-02T06:00:00.000Z');

function poolWith(...pending: (PendingRotation | undefined)[]): PoolReport {
  return {
    pool: 'web',
    server: 'nginx',
    verdict: 'consistent',
    ring: [],
    faults: [],
    nodes: pending.map((p, i) => ({
      node: `n${i}`,
      state: { manifest: p === undefined ? undefined : { pending: p } },
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
