import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyRecordsAwk, lastThreeNamesAwk, runtimeNamesAwk } from './base64-key-lines.js';

/** The node's awk (mawk on Debian), and busybox's where it is installed: some nodes have only it. */
const awks: string[][] = [['awk']];
try {
  execFileSync('busybox', ['awk', 'BEGIN {}'], { stdio: 'ignore' });
  awks.push(['busybox', 'awk']);
} catch {
  // No busybox here: the node's awk alone.
}

const name = (key: Buffer): string => key.subarray(0, 16).toString('hex');

describe.each(awks)('the awk that names base64 key lines (%s)', (...cmd) => {
  const awk = (program: string, input: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const [file, ...args] = cmd as [string, ...string[]];
      const child = execFile(file, [...args, program], (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
      child.stdin?.end(input);
    });

  it('gives the size and name that decoding the line would, and -1 for what is not base64', async () => {
    const keys = [
      randomBytes(48),
      randomBytes(80),
      randomBytes(79),
      randomBytes(78),
      randomBytes(5),
    ];
    const lines = keys.map((k) => k.toString('base64'));
    const odd = ['', '# a comment', '\r', `${lines[0]} `, 'ab=c', 'abc', 'a-bc', 'ab==='];
    const out = (await awk(keyRecordsAwk, [...lines, ...odd].join('\n'))).split('\n');
    expect(out.slice(0, keys.length)).toEqual(keys.map((k) => `K|${k.length}|${name(k)}`));
    // Blank lines and comments are not keys; the rest are not base64.
    expect(out.slice(keys.length, -1).map((l) => l.split('|')[1])).toEqual(Array(5).fill('-1'));
    expect(out.at(-1)).toBe('');
    // HAProxy drops a line's CR: a file written on Windows holds the same keys.
    const crlf = await awk(keyRecordsAwk, lines.map((l) => `${l}\r\n`).join(''));
    expect(crlf).toBe(keys.map((k) => `K|${k.length}|${name(k)}\n`).join(''));
  });

  it('names the last three keys of a file, and the keys HAProxy lists in memory', async () => {
    const keys = [48, 48, 48, 48].map((n) => randomBytes(n));
    const file = ['# managed', ...keys.map((k) => k.toString('base64')), ''].join('\n');
    expect(await awk(lastThreeNamesAwk, file)).toBe(keys.slice(1).map(name).join(' '));
    expect(await awk(lastThreeNamesAwk, keys[0]!.toString('base64'))).toBe(name(keys[0]!));
    const shown = [
      '# id (file)',
      '1 (/etc/haproxy/tickets.keys)',
      ...keys.slice(0, 3).map((k, i) => `1.${i} ${k.toString('base64')}`),
    ].join('\n');
    expect(await awk(runtimeNamesAwk, `${shown}\n`)).toBe(keys.slice(0, 3).map(name).join(' '));
  });
});
