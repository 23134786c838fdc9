import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryError } from '../errors.js';
import { loadInventory } from './load-inventory.js';

const valid = 'pools:\n  a:\n    server: nginx\n    nodes: [{host: a}]\n';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stekctl-inventory-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(path: string): Promise<InventoryError> {
  const error: unknown = await loadInventory(path).then(
    () => new Error('the inventory was accepted'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InventoryError);
  return error as InventoryError;
}

describe('loadInventory', () => {
  it('returns the absolute path and the sha256 of the file bytes', async () => {
    const path = join(dir, 'good.yaml');
    await writeFile(path, valid);
    const inventory = await loadInventory(relative(process.cwd(), path));
    expect(inventory.path).toBe(path);
    expect(inventory.sha256).toBe(createHash('sha256').update(valid).digest('hex'));
    expect(inventory.pools[0]?.nodes[0]?.host).toBe('a');
  });

  it('hashes a byte order mark along with the rest', async () => {
    const path = join(dir, 'bom.yaml');
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(valid)]);
    await writeFile(path, bytes);
    const inventory = await loadInventory(path);
    expect(inventory.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('loads the example inventory', async () => {
    const path = fileURLToPath(new URL('../../inventory.example.yaml', import.meta.url));
    const inventory = await loadInventory(path);
    expect(inventory.pools.map((p) => p.server)).toEqual(['nginx', 'apache', 'haproxy']);
  });

  it('reports the line of a problem with the path as given', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(path, valid.replace('nginx', 'ngnix'));
    const error = await rejection(path);
    expect(error.message).toBe(
      `${path}:3: pools.a.server: unknown server kind \`ngnix\`; use one of nginx, apache, haproxy, node`,
    );
  });

  it('rejects a missing file', async () => {
    const path = join(dir, 'missing.yaml');
    const error = await rejection(path);
    expect(error.message).toBe(`${path}: cannot read the inventory: no such file`);
    expect(error.line).toBeUndefined();
  });

  it('rejects a directory', async () => {
    const path = join(dir, 'sub');
    await mkdir(path);
    expect((await rejection(path)).message).toBe(`${path}: is a directory, not an inventory file`);
  });

  it('rejects a FIFO without blocking on it', async () => {
    const path = join(dir, 'fifo');
    execFileSync('mkfifo', [path]);
    expect((await rejection(path)).message).toContain('not a regular file');
  });

  it('rejects a file over 1 MiB', async () => {
    const path = join(dir, 'big.yaml');
    await writeFile(path, `${valid}#${'x'.repeat(1024 * 1024)}\n`);
    expect((await rejection(path)).message).toContain('larger than 1048576 bytes');
  });

  it('rejects NUL bytes', async () => {
    const path = join(dir, 'nul.yaml');
    await writeFile(path, `${valid}\u0000\n`);
    expect((await rejection(path)).message).toContain('NUL bytes');
  });

  it('rejects invalid UTF-8', async () => {
    const path = join(dir, 'latin1.yaml');
    await writeFile(
      path,
      Buffer.concat([Buffer.from(valid), Buffer.from([0x23, 0xe9, 0xff, 0x0a])]),
    );
    expect((await rejection(path)).message).toBe(`${path}: the inventory is not valid UTF-8 text`);
  });

  it.skipIf(process.getuid?.() === 0)('rejects an unreadable file', async () => {
    const path = join(dir, 'secret.yaml');
    await writeFile(path, valid);
    await chmod(path, 0o000);
    expect((await rejection(path)).message).toContain('permission denied');
  });
});
