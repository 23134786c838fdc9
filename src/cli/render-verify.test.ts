import { describe, expect, it } from 'vitest';
import { mergeVersions } from './render-verify.js';

describe('mergeVersions', () => {
  it('says once what failed the same way in every version, and keeps the rest apart', () => {
    expect(
      mergeVersions([
        'TLSv1.2: cannot connect: connection refused',
        'TLSv1.3: cannot connect: connection refused',
        'TLSv1.3: did not resume the tickets of a: key x',
        'ring read failed',
      ]),
    ).toEqual([
      'TLSv1.2, TLSv1.3: cannot connect: connection refused',
      'TLSv1.3: did not resume the tickets of a: key x',
      'ring read failed',
    ]);
  });
});
