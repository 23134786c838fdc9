import { describe, expect, it } from 'vitest';
import type { NodeState, RingEntry } from '../servers/types.js';
import { summarizePool, type NodeReport } from './inspect-pools.js';
import { majorityRing } from './verify-pools.js';

function entry(keyId: string, role: RingEntry['role']): RingEntry {
  return {
    keyId,
    source: `/k/${keyId}.key`,
    role,
    size: 48,
    mode: '600',
    ageSeconds: 1,
    problem: undefined,
  };
}

function nodeWith(name: string, ring: RingEntry[] | undefined): NodeReport {
  const state = ring && ({ ring, problems: [] } as unknown as NodeState);
  return {
    node: name,
    host: name,
    reachable: state !== undefined,
    error: state ? undefined : 'refused',
    state,
  };
}

const a = [entry('aa', 'encrypt'), entry('bb', 'decrypt')];
const b = [entry('cc', 'encrypt')];

describe('majorityRing', () => {
  it('is the ring more than half of the nodes hold', () => {
    const report = summarizePool('web', 'nginx', [
      nodeWith('n1', a),
      nodeWith('n2', a),
      nodeWith('n3', b),
    ]);
    expect(majorityRing(report, 3)?.map((e) => e.keyId)).toEqual(['aa', 'bb']);
  });

  it('is undefined on a tie, when too few nodes were read, or without managed keys', () => {
    const tie = summarizePool('web', 'nginx', [nodeWith('n1', a), nodeWith('n2', b)]);
    expect(majorityRing(tie, 2)).toBeUndefined();
    const few = summarizePool('web', 'nginx', [
      nodeWith('n1', a),
      nodeWith('n2', undefined),
      nodeWith('n3', undefined),
    ]);
    expect(majorityRing(few, 3)).toBeUndefined();
    const none = summarizePool('web', 'nginx', [nodeWith('n1', []), nodeWith('n2', [])]);
    expect(majorityRing(none, 2)).toBeUndefined();
  });
});
