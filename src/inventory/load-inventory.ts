import { createHash } from 'node:crypto';
import { constants, type FileHandle, open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InventoryError } from '../errors.js';
import { maxInventoryBytes, parseInventory } from './parse-inventory.js';
import type { Inventory } from './types.js';

/**
 * Reads, parses and validates the inventory file. Every failure, from a missing file to a bad
 * field, is an InventoryError naming the file (and line and field where there is one).
 */
export async function loadInventory(path: string): Promise<Inventory> {
  const bytes = await readInventoryBytes(path);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InventoryError(path, undefined, undefined, 'the inventory is not valid UTF-8 text');
  }
  const inventory = parseInventory(text, path);
  // The hash covers the bytes as stored (a BOM included), so any edit to the file changes it.
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { ...inventory, path: resolve(path), sha256 };
}

async function readInventoryBytes(path: string): Promise<Buffer> {
  const fail = (problem: string) => new InventoryError(path, undefined, undefined, problem);
  // A FIFO or device would block or never end: only regular files are opened.
  const info = await stat(path).catch((error: unknown) => {
    throw fail(`cannot read the inventory: ${describeFsError(error)}`);
  });
  if (info.isDirectory()) throw fail('is a directory, not an inventory file');
  if (!info.isFile()) throw fail('is not a regular file');
  if (info.size > maxInventoryBytes)
    throw fail(`the inventory is larger than ${maxInventoryBytes} bytes`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    // Read one byte past the limit so that a file that grew since stat() is still refused.
    const buffer = Buffer.alloc(maxInventoryBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxInventoryBytes)
        throw fail(`the inventory is larger than ${maxInventoryBytes} bytes`);
    }
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof InventoryError) throw error;
    throw fail(`cannot read the inventory: ${describeFsError(error)}`);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'EISDIR':
      return 'is a directory';
    case 'ELOOP':
      return 'too many symbolic links';
    default:
      return code ?? (error instanceof Error ? error.message : String(error));
  }
}
