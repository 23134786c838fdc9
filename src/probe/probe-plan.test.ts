import { describe, expect, it } from 'vitest';
import {
  createRandomRng,
  createSeededRng,
  planKeyCoverage,
  planProbes,
  shuffle,
} from './probe-plan.js';

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

describe('planProbes', () => {
  it('offers every ticket to every node up to matrixMax', () => {
    const nodes = names(5);
    const plan = planProbes(nodes, 5, createSeededRng(1));
    expect(plan).toHaveLength(25);
    const seen = new Set(plan.map((p) => `${p.from}>${p.to}`));
    for (const from of nodes) for (const to of nodes) expect(seen.has(`${from}>${to}`)).toBe(true);
  });

  it('covers every node at itself and at another in 2N probes above matrixMax', () => {
    const nodes = names(12);
    const plan = planProbes(nodes, 8, createSeededRng(7));
    expect(plan).toHaveLength(24);
    for (const node of nodes) {
      const own = plan.filter((p) => p.from === node);
      expect(own.filter((p) => p.to === node)).toHaveLength(1);
      expect(own.filter((p) => p.to !== node)).toHaveLength(1);
      // Every node also accepts exactly one foreign ticket.
      expect(plan.filter((p) => p.to === node && p.from !== node)).toHaveLength(1);
    }
    // The foreign offers form one cycle through all nodes.
    const next = new Map(plan.filter((p) => p.from !== p.to).map((p) => [p.from, p.to]));
    let at = 'n1';
    const visited = new Set<string>();
    while (!visited.has(at)) {
      visited.add(at);
      at = next.get(at) as string;
    }
    expect(visited.size).toBe(12);
  });

  it('is reproducible with a seed and changes between seeds', () => {
    const nodes = names(12);
    expect(planProbes(nodes, 8, createSeededRng(42))).toEqual(
      planProbes(nodes, 8, createSeededRng(42)),
    );
    expect(planProbes(nodes, 8, createSeededRng(42))).not.toEqual(
      planProbes(nodes, 8, createSeededRng(43)),
    );
    expect(planProbes(nodes, 8, createRandomRng())).not.toEqual(
      planProbes(nodes, 8, createRandomRng()),
    );
  });

  it('handles tiny pools', () => {
    expect(planProbes([], 8, createSeededRng(1))).toEqual([]);
    expect(planProbes(['a'], 0, createSeededRng(1))).toEqual([{ from: 'a', to: 'a' }]);
    expect(planProbes(['a', 'b'], 1, createSeededRng(1))).toHaveLength(4);
  });
});

describe('shuffle', () => {
  it('returns a permutation and leaves its input alone', () => {
    const input = names(20);
    const out = shuffle(input, createSeededRng(3));
    expect([...out].sort()).toEqual([...input].sort());
    expect(input).toEqual(names(20));
  });
});

describe('planKeyCoverage', () => {
  const nodes = ['a', 'b', 'c', 'd', 'e'];

  it('gives every node one ticket per key, from another node', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const plan = planKeyCoverage(
        new Map([
          ['k1', ['a', 'b', 'c']],
          ['k2', ['d', 'e']],
        ]),
        nodes,
        createSeededRng(seed),
      );
      for (const key of ['k1', 'k2']) {
        const mine = plan.filter((p) => p.keyId === key);
        expect(mine.map((p) => p.to).sort()).toEqual(nodes);
        expect(mine.every((p) => p.from !== p.to)).toBe(true);
      }
      expect(plan.filter((p) => p.keyId === 'k2').every((p) => ['d', 'e'].includes(p.from))).toBe(
        true,
      );
    }
  });

  it('offers a lone ticket back to its own node too, and varies from run to run', () => {
    const only = new Map([['k', ['c']]]);
    const plan = planKeyCoverage(only, nodes, createSeededRng(3));
    expect(plan.map((p) => p.to).sort()).toEqual(nodes);
    expect(plan.every((p) => p.from === 'c')).toBe(true);
    const many = new Map([['k', nodes]]);
    expect(planKeyCoverage(many, nodes, createSeededRng(1))).not.toEqual(
      planKeyCoverage(many, nodes, createSeededRng(2)),
    );
  });
});
