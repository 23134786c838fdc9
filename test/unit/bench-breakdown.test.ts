import { describe, expect, it } from 'vitest';
import { breakdownOf } from '../../bench/breakdown.js';

const at = (ms: number): string => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
/** A pool that staged, promoted and retired, each phase as [start, length] in ms. */
const rotated = (pool: string, ...spans: [number, number][]) => ({
  pool,
  outcome: 'rotated',
  phases: ['stage', 'promote', 'retire'].map((name, i) => {
    const [start, ms] = spans[i] ?? [0, 0];
    return { name, startedAt: at(start), ms };
  }),
});

describe('the bench breakdown of a stekctl run', () => {
  it('counts time in any pool transaction as apply once, even when pools drift apart', () => {
    const doc = {
      startedAt: at(0),
      finishedAt: at(2400),
      pools: [
        rotated('a', [700, 700], [1500, 600], [2300, 70]),
        rotated('b', [700, 650], [1450, 570], [2130, 100]),
      ],
    };
    const b = breakdownOf(doc, 2600);
    // stage 700-1400, promote 1450-2100, retire 2130-2230 and 2300-2370.
    expect(b).toEqual({
      startup: 200,
      preflight: 700,
      apply: 700 + 650 + 100 + 70,
      probes: 1670 - (700 + 650 + 100 + 70),
      finish: 30,
    });
    expect(b?.probes).toBeGreaterThanOrEqual(0);
  });
});
