import { describe, expect, it } from 'vitest';
import { addTo, groupBy } from './collections.js';

describe('groupBy', () => {
  it('groups in first-seen order and leaves out items without a key', () => {
    const groups = groupBy(['b1', 'a1', 'b2', 'x', 'a2'], (s) => (s === 'x' ? undefined : s[0]));
    expect([...groups]).toEqual([
      ['b', ['b1', 'b2']],
      ['a', ['a1', 'a2']],
    ]);
  });

  it('appends to the list in place', () => {
    const groups = new Map<string, number[]>();
    addTo(groups, 'k', 1);
    const list = groups.get('k');
    addTo(groups, 'k', 2);
    expect(groups.get('k')).toBe(list);
    expect(list).toEqual([1, 2]);
  });
});
