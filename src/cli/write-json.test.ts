import { describe, expect, it } from 'vitest';
import { createSeededRng, type Rng } from '../probe/probe-plan.js';
import { writeJson } from './write-json.js';

function written(doc: unknown, slice: number): string[] {
  const chunks: string[] = [];
  writeJson({ write: (c: string) => chunks.push(c) }, doc, slice);
  return chunks;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;

/** Any value JSON.stringify takes, including the ones it skips, nulls or converts. */
function randomValue(rng: Rng, depth: number): unknown {
  const leaves = [
    () => null,
    () => undefined,
    () => Math.floor(rng() * 1e6) - 5e5,
    () => rng() * 10,
    () => Number.NaN,
    () => pick(rng, [true, false]),
    () => pick(rng, ['', 'web-1', 'line\nbreak "quoted"', 'tab\there', 'k\u{1F511}', '\u2028']),
    () => new Date(Date.UTC(2026, 10, 22, 8, Math.floor(rng() * 60))),
    () => () => 1,
    () => Symbol('s'),
    () => ({}),
    () => [],
  ];
  if (depth > 8 || rng() < 0.3) return pick(rng, leaves)();
  if (rng() < 0.5) {
    // A long array (spread at any depth) holds leaves, so that documents stay small.
    if (rng() < 0.1) return Array.from({ length: 70 }, () => randomValue(rng, 99));
    return Array.from({ length: Math.floor(rng() * 4) }, () => randomValue(rng, depth + 1));
  }
  const obj: Record<string, unknown> = {};
  const n = Math.floor(rng() * 4);
  for (let i = 0; i < n; i++)
    obj[pick(rng, ['a', 'node', '2', 'ok', 'é "q"', `k${i}`])] = randomValue(rng, depth + 1);
  return obj;
}

describe('writeJson', () => {
  it('writes exactly what JSON.stringify(doc, null, 2) gives, and a newline', () => {
    const rng = createSeededRng(8);
    for (let i = 0; i < 400; i++) {
      const doc = randomValue(rng, 0);
      const expected = `${JSON.stringify(doc, null, 2) ?? 'null'}\n`;
      expect(written(doc, 1 + Math.floor(rng() * 200)).join('')).toBe(expected);
    }
  });

  it('never holds more than a slice and one node record of a large report', () => {
    const nodes = Array.from({ length: 20_000 }, (_, i) => ({
      node: `127.77.${i >> 8}.${i & 255}`,
      ok: true,
      ms: i % 700,
    }));
    const doc = { pools: [{ pool: 'web', phases: [{ name: 'stage', nodes }] }] };
    const chunks = written(doc, 4096);
    expect(chunks.join('')).toBe(`${JSON.stringify(doc, null, 2)}\n`);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(4096 + 200);
  });

  it('never cuts a character outside the basic plane in two', () => {
    const doc = { node: 'edge-\u{1F511}-key' };
    for (let slice = 1; slice < 30; slice++) {
      const chunks = written(doc, slice);
      expect(chunks.join('')).toBe(`${JSON.stringify(doc, null, 2)}\n`);
      for (const c of chunks) expect(Buffer.from(c, 'utf8').toString('utf8')).toBe(c);
    }
  });
});
