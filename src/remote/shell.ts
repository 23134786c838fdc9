import { OperationError } from '../errors.js';

/**
 * Quotes one word for a POSIX shell: single quotes keep every byte literal (newlines, `$`, `\`,
 * backquotes, non-ASCII), and a single quote is written as `'\''`. The result is one word
 * whatever `s` holds.
 */
export function quoteShell(s: string): string {
  // A NUL cannot travel in a command line at all: the remote side would cut the word there.
  if (s.includes('\0')) {
    throw new OperationError('a shell argument cannot contain a NUL byte');
  }
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
