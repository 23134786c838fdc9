import { describe, expect, it } from 'vitest';
import { shareString } from './shared-strings.js';

describe('shareString', () => {
  it('gives back the value it was given, also after its table filled up', () => {
    expect(shareString(undefined)).toBeUndefined();
    for (let i = 0; i < 600; i++) expect(shareString(`key-${i % 300}`)).toBe(`key-${i % 300}`);
    expect(shareString('AB:CD')).toBe('AB:CD');
  });
});
