import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { maxDurationMs, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1h2m3s', 3_723_000],
    ['1m30s', 90_000],
    ['250ms', 250],
    ['1s500ms', 1500],
    ['1.5s', 1500],
    ['0', 0],
    ['0s', 0],
    [' 5s ', 5000],
  ])('reads %j as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('reads numbers as seconds', () => {
    expect(parseDuration(90)).toBe(90_000);
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration(0.25)).toBe(250);
  });

  it.each([
    '',
    'abc',
    '10',
    '-5s',
    '5',
    '1x',
    's',
    '30m1h',
    '1m1m',
    '1.5ms',
    '1 h',
    '5S',
    '1e3s',
    '--1s',
    '1h-5m',
  ])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });

  it('rejects negative and non-finite numbers', () => {
    for (const n of [-1, -0.001, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => parseDuration(n)).toThrow(UsageError);
    }
  });

  it('rejects durations that timers cannot hold', () => {
    expect(parseDuration('596h')).toBeLessThanOrEqual(maxDurationMs);
    expect(() => parseDuration('597h')).toThrow(/too long/);
    expect(() => parseDuration(3_000_000)).toThrow(/too long/);
  });

  it('says what was wrong without echoing control characters', () => {
    expect(() => parseDuration('1\u001b[2Jm')).toThrow(/\\u001b/);
  });
});
