import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { OperationError } from '../errors.js';
import { quoteShell } from './shell.js';

/** What /bin/sh sees as the one argument after quoting. */
function roundTrip(s: string): string {
  return execFileSync('/bin/sh', ['-c', `printf '%s' ${quoteShell(s)}`], { encoding: 'utf8' });
}

describe('quoteShell', () => {
  it('keeps awkward strings as one literal word', () => {
    for (const s of [
      '',
      'plain',
      "it's",
      "''''",
      'a b\tc',
      'line1\nline2\n',
      '$HOME `id` $(id) \\ " ; & | < > * ? ~ # !',
      '-n',
      'ünïcødé ✓',
    ]) {
      expect(roundTrip(s)).toBe(s);
    }
  });

  it('keeps every character other than NUL (sent as UTF-8)', () => {
    const bytes = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1)).toString('latin1');
    const out = execFileSync('/bin/sh', ['-c', `printf '%s' ${quoteShell(bytes)}`], {
      encoding: 'utf8',
    });
    expect(out).toBe(bytes);
  });

  it('quotes in the usual POSIX form', () => {
    expect(quoteShell("a'b")).toBe(`'a'\\''b'`);
    expect(quoteShell('')).toBe("''");
  });

  it('refuses a NUL byte', () => {
    expect(() => quoteShell('a\0b')).toThrow(OperationError);
  });
});
