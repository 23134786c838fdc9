import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OperationError } from '../errors.js';
import { writeFileAtomic } from './write-file-atomic.js';

const secret = 'SECRET-BYTES-d41d8cd98f00b204';
let dir = '';
let savedUmask = 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stek-write-'));
  savedUmask = process.umask();
});

afterEach(async () => {
  process.umask(savedUmask);
  await chmod(dir, 0o700).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('writeFileAtomic', () => {
  it.each([0o000, 0o022, 0o077, 0o277])(
    'creates the file with mode 0600 under umask %o',
    async (umask) => {
      process.umask(umask);
      const path = join(dir, 'key');
      await writeFileAtomic(path, Buffer.from(secret), { mode: 0o600, overwrite: false });
      expect(await readFile(path, 'utf8')).toBe(secret);
      expect(await modeOf(path)).toBe(0o600);
      expect(await readdir(dir)).toEqual(['key']);
    },
  );

  it('applies a wider mode exactly even when the umask would narrow it', async () => {
    process.umask(0o077);
    const path = join(dir, 'conf');
    await writeFileAtomic(path, 'text\n', { mode: 0o644, overwrite: false });
    expect(await modeOf(path)).toBe(0o644);
    expect(await readFile(path, 'utf8')).toBe('text\n');
  });

  it('refuses to overwrite without overwrite: true and leaves the target alone', async () => {
    const path = join(dir, 'key');
    await writeFile(path, 'old', { mode: 0o644 });
    const err = await rejection(writeFileAtomic(path, secret, { mode: 0o600, overwrite: false }));
    expect(err).toBeInstanceOf(OperationError);
    expect(err.message).toBe(`${path} already exists; not overwriting it`);
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['key']);
  });

  it('replaces the target with overwrite: true, with the new mode', async () => {
    const path = join(dir, 'key');
    await writeFile(path, 'old', { mode: 0o644 });
    await writeFileAtomic(path, secret, { mode: 0o600, overwrite: true });
    expect(await readFile(path, 'utf8')).toBe(secret);
    expect(await modeOf(path)).toBe(0o600);
    expect(await readdir(dir)).toEqual(['key']);
  });

  it('names the path, not the data, when the directory does not exist', async () => {
    const path = join(dir, 'missing', 'key');
    const err = await rejection(writeFileAtomic(path, secret, { mode: 0o600, overwrite: true }));
    expect(err).toBeInstanceOf(OperationError);
    expect(err.message).toBe(`cannot write ${path}: no such file or directory (ENOENT)`);
    expect(err.message).not.toContain(secret);
    expect(await readdir(dir)).toEqual([]);
  });

  it.each([true, false])(
    'leaves no temporary file when the last step fails (overwrite %s)',
    async (overwrite) => {
      // A directory in the target's place makes rename/link fail after the data is written.
      const path = join(dir, 'key');
      await mkdir(path);
      const err = await rejection(writeFileAtomic(path, secret, { mode: 0o600, overwrite }));
      expect(err).toBeInstanceOf(OperationError);
      expect(err.message).toContain(path);
      expect(err.message).not.toContain(secret);
      expect(await readdir(dir)).toEqual(['key']);
      expect(await readdir(path)).toEqual([]);
    },
  );

  it.skipIf(process.getuid?.() === 0)('fails cleanly in a directory it cannot write', async () => {
    await chmod(dir, 0o500);
    const path = join(dir, 'key');
    const err = await rejection(writeFileAtomic(path, secret, { mode: 0o600, overwrite: true }));
    expect(err.message).toBe(`cannot write ${path}: permission denied (EACCES)`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('lets exactly one of several concurrent creators win, and keeps its data', async () => {
    const path = join(dir, 'key');
    const writers = Array.from({ length: 12 }, (_, i) =>
      writeFileAtomic(path, `writer ${i}`, { mode: 0o600, overwrite: false }),
    );
    const results = await Promise.allSettled(writers);
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(await readFile(path, 'utf8')).toBe(`writer ${winners[0]}`);
    for (const r of results) {
      if (r.status === 'rejected') {
        expect((r.reason as Error).message).toMatch(/already exists; not overwriting it$/);
      }
    }
    expect(await readdir(dir)).toEqual(['key']);
  });
});
