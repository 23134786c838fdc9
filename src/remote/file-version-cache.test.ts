import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileVersionCache } from './file-version-cache.js';

const dir = mkdtempSync(join(tmpdir(), 'stekctl-file-version-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FileVersionCache', () => {
  it('reads a file once while it keeps its size and mtime, also for readers that start together', async () => {
    const file = join(dir, 'a');
    writeFileSync(file, 'one');
    let loads = 0;
    const cache = new FileVersionCache(async (f) => {
      loads += 1;
      return { text: await readFile(f, 'utf8') };
    });
    const together = await Promise.all([cache.read(file), cache.read(file), cache.read(file)]);
    expect(new Set(together).size).toBe(1);
    expect(loads).toBe(1);
    writeFileSync(file, 'three');
    expect((await cache.read(file)).text).toBe('three');
    expect(loads).toBe(2);
  });

  it('keeps neither a failed read nor one the check finds incomplete', async () => {
    const file = join(dir, 'b');
    writeFileSync(file, 'abc');
    let fail = true;
    let loads = 0;
    const cache = new FileVersionCache(
      (f) => {
        loads += 1;
        return fail ? Promise.reject(new Error('boom')) : readFile(f, 'utf8');
      },
      () => loads > 2,
    );
    await expect(cache.read(file)).rejects.toThrow('boom');
    fail = false;
    expect(await cache.read(file)).toBe('abc');
    expect(await cache.read(file)).toBe('abc');
    expect(loads).toBe(3);
    await cache.read(file);
    expect(loads).toBe(3);
  });
});
