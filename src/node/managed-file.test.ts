import { describe, expect, it } from 'vitest';
import { parseManagedFile, renderManagedFile } from './managed-file.js';

describe('the managed file of a Node.js pool', () => {
  it('round-trips the one key path stekctl writes', () => {
    const text = renderManagedFile('/etc/stekctl/node-tickets/ab.key');
    expect(text).toBe('# managed by stekctl; do not edit\nkey /etc/stekctl/node-tickets/ab.key\n');
    expect(parseManagedFile(text, '/x')).toEqual(['/etc/stekctl/node-tickets/ab.key']);
  });

  it('reads hand-written variants: quotes, indentation, relative paths, comments', () => {
    const text = '\n  # comment\n  key "k1.key"\nnoise here\nkey\t/abs/k2.key  \n';
    expect(parseManagedFile(text, '/keys')).toEqual(['/keys/k1.key', '/abs/k2.key']);
    expect(parseManagedFile('', '/keys')).toEqual([]);
    expect(parseManagedFile('keys /a\nkey a b\n', '/keys')).toEqual([]);
  });
});
