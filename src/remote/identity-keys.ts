import { readFile, stat } from 'node:fs/promises';
import ssh2 from 'ssh2';

/** A private key as ssh2 parsed it: signs logins without being parsed again. */
export type ParsedPrivateKey = object;

interface IdentityKey {
  text: string;
  /** Undefined when ssh2 cannot use it: the login then hands ssh2 the text, which says why. */
  parsed: ParsedPrivateKey | undefined;
}

/** The last read per file, reused while its size and mtime stay the same. */
const identities = new Map<string, { mtimeMs: number; size: number; key: Promise<IdentityKey> }>();

/**
 * An identity file's text and, for an unencrypted key ssh2 can use, the key parsed once: every
 * login of a fleet offers the same key, and ssh2 would otherwise read and parse it per
 * connection and keep each copy (text, parsed key, two native key objects) for as long as the
 * connection lives. Rejects like readFile when the file cannot be read.
 */
export async function readIdentityKey(file: string): Promise<IdentityKey> {
  const info = await stat(file);
  const cached = identities.get(file);
  if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached.key;
  const key = readFile(file, 'utf8').then((text) => ({ text, parsed: parsePrivateKey(text) }));
  const entry = { mtimeMs: info.mtimeMs, size: info.size, key };
  identities.set(file, entry);
  try {
    return await key;
  } catch (err) {
    if (identities.get(file) === entry) identities.delete(file);
    throw err;
  }
}

function parsePrivateKey(text: string): ParsedPrivateKey | undefined {
  const parsed = ssh2.utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error) return undefined;
  return key.isPrivateKey() ? key : undefined;
}
