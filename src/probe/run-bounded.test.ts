import { describe, expect, it } from 'vitest';
import { scaleDeadline } from './run-bounded.js';

describe('scaleDeadline', () => {
  it('keeps the base for a batch of one wave or none', () => {
    expect(scaleDeadline(20_000, 0, 8, 5000)).toBe(20_000);
    expect(scaleDeadline(20_000, 8, 8, 5000)).toBe(20_000);
  });

  it('adds one probe timeout per further wave', () => {
    expect(scaleDeadline(20_000, 9, 8, 5000)).toBe(25_000);
    // 10,000 nodes, one version, 256 at a time: 40 waves.
    expect(scaleDeadline(20_000, 10_000, 256, 5000)).toBe(20_000 + 39 * 5000);
  });
});
