import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import { managedFileName, parseManagedFile } from './managed-file.js';

/** Node.js takes exactly one 48-byte key: name (16) | HMAC (16) | AES (16). */
export const nodeKeySize = 48;

/** A key read from the managed directory. `bytes` is secret: never print it, zero it when done. */
export interface LoadedKey {
  /** The key's 16-byte name in hex: public, it travels in clear at the start of every ticket. */
  keyId: string;
  /** Absolute path of the key file. */
  file: string;
  bytes: Buffer;
  /** sha256 of the bytes, to tell a changed key from the same one without keeping a copy. */
  digest: string;
}

/** What the managed directory holds right now: a key, or nothing named yet. */
export type KeyReading = { kind: 'key'; key: LoadedKey } | { kind: 'none'; reason: string };

/** Reads the managed file and the key it names, without blocking the event loop. */
export async function readManagedKey(keyDir: string): Promise<KeyReading> {
  const managed = join(keyDir, managedFileName);
  let text: string;
  try {
    text = await readFile(managed, 'utf8');
  } catch (err) {
    return missingManaged(managed, err);
  }
  const file = firstKeyFile(text, keyDir);
  if (file === undefined) return noKeyNamed(managed);
  try {
    return { kind: 'key', key: checkKey(file, await readFile(file)) };
  } catch (err) {
    throw asKeyError(file, managed, err);
  }
}

/** The same, synchronously: used once at start, so the key is in place before the first handshake. */
export function readManagedKeySync(keyDir: string): KeyReading {
  const managed = join(keyDir, managedFileName);
  let text: string;
  try {
    text = readFileSync(managed, 'utf8');
  } catch (err) {
    return missingManaged(managed, err);
  }
  const file = firstKeyFile(text, keyDir);
  if (file === undefined) return noKeyNamed(managed);
  try {
    return { kind: 'key', key: checkKey(file, readFileSync(file)) };
  } catch (err) {
    throw asKeyError(file, managed, err);
  }
}

function firstKeyFile(text: string, keyDir: string): string | undefined {
  return parseManagedFile(text, keyDir)[0];
}

function missingManaged(managed: string, err: unknown): KeyReading {
  if (codeOf(err) !== 'ENOENT')
    throw new OperationError(`cannot read ${managed}: ${reasonOf(err)}`);
  return { kind: 'none', reason: `${managed} does not exist` };
}

function noKeyNamed(managed: string): KeyReading {
  return { kind: 'none', reason: `${managed} names no key yet` };
}

function asKeyError(file: string, managed: string, err: unknown): OperationError {
  if (err instanceof OperationError) return err;
  return new OperationError(
    `cannot read key file ${file}, named by ${managed}: ${reasonOf(err)}`,
    codeOf(err) === 'EACCES'
      ? 'the process must be able to read the key directory: run it as the user stekctl connects as'
      : undefined,
  );
}

/** Checks the size only: any 48 bytes are a valid key. The message never shows the bytes. */
function checkKey(file: string, bytes: Buffer): LoadedKey {
  if (bytes.length !== nodeKeySize) {
    const size = bytes.length;
    bytes.fill(0);
    throw new OperationError(
      `key file ${file} is ${size} bytes; Node.js takes exactly one ${nodeKeySize}-byte key`,
    );
  }
  return {
    keyId: bytes.subarray(0, 16).toString('hex'),
    file,
    bytes,
    digest: createHash('sha256').update(bytes).digest('hex'),
  };
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The errno code only: an error's message could quote more than the path. */
function reasonOf(err: unknown): string {
  return codeOf(err) ?? 'unknown error';
}
