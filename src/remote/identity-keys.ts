import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import { FileVersionCache } from './file-version-cache.js';

/** A private key as ssh2 parsed it: signs logins without being parsed again. */
export type ParsedPrivateKey = object;

interface IdentityKey {
  text: string;
  /** Undefined when ssh2 cannot use it: the login then hands ssh2 the text, which says why. */
  parsed: ParsedPrivateKey | undefined;
}

/** The last read per file. */
const identities = new FileVersionCache(
  async (file): Promise<IdentityKey> => {
    const text = await readFile(file, 'utf8');
    return { text, parsed: parsePrivateKey(text) };
  },
  (key, size) => Buffer.byteLength(key.text) === size,
);

/**
 * An identity file's text and, for an unencrypted key ssh2 can use, the key parsed once: every
 * login of a fleet offers the same key, and ssh2 would otherwise read and parse it per
 * connection and keep each copy (text, parsed key, two native key objects) for as long as the
 * connection lives. Rejects like readFile when the file cannot be read.
 */
export function readIdentityKey(file: string): Promise<IdentityKey> {
  return identities.read(file);
}

function parsePrivateKey(text: string): ParsedPrivateKey | undefined {
  const parsed = ssh2.utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error) return undefined;
  return key.isPrivateKey() ? signingWithKeyObject(key) : undefined;
}

/**
 * ssh2 keeps a parsed key's private half as PEM text and hands that text to crypto.sign at
 * every login, which parses it again: 0.4 ms of CPU per Ed25519 signature against 0.03 ms with
 * a KeyObject. The key offered to logins is the parsed key with its PEM replaced by a
 * KeyObject (crypto.sign takes either); when ssh2 does not keep it where expected, the parsed
 * key as it is.
 */
function signingWithKeyObject(key: object): object {
  const slot = Object.getOwnPropertySymbols(key).find((s) => s.description === 'Private key PEM');
  const pem = slot === undefined ? undefined : (key as Record<symbol, unknown>)[slot];
  if (slot === undefined || typeof pem !== 'string') return key;
  try {
    return Object.create(key, { [slot]: { value: createPrivateKey(pem) } }) as object;
  } catch {
    return key;
  }
}
