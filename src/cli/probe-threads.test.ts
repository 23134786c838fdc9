import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { PoolSpec } from '../inventory/types.js';
import { probeThreadCount } from './probe-threads.js';

const poolOf = (nodes: number) => ({ nodes: new Array(nodes).fill({}) }) as unknown as PoolSpec;

describe('probeThreadCount', () => {
  it('takes a number as given, 0 included', () => {
    expect(probeThreadCount(0, [poolOf(5000)])).toBe(0);
    expect(probeThreadCount(3, [poolOf(2)])).toBe(3);
  });

  it('auto: none for small fleets, up to four with a core left free for large ones', () => {
    expect(probeThreadCount('auto', [poolOf(600), poolOf(399)])).toBe(0);
    const large = probeThreadCount('auto', [poolOf(600), poolOf(400)]);
    expect(large).toBe(Math.min(4, availableParallelism() - 1));
  });
});
