import { describe, expect, it } from 'vitest';
import { writeJson } from './write-json.js';

function written(doc: unknown, slice: number): string[] {
  const chunks: string[] = [];
  writeJson({ write: (c: string) => chunks.push(c) }, doc, slice);
  return chunks;
}

describe('writeJson', () => {
  it('writes the indented document and a newline, in slices that add up to it', () => {
    const doc = { pools: [{ pool: 'web', nodes: ['a', 'b', 'c'] }], ok: true };
    const chunks = written(doc, 7);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.join('')).toBe(`${JSON.stringify(doc, null, 2)}\n`);
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
