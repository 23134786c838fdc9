import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OperationError, type StekError } from '../errors.js';
import { FileVersionCache } from './file-version-cache.js';
import { ConnectError, HostKeyError, formatHostPort } from './errors.js';
import { knownHostsName } from './host-patterns.js';
import { describeFsError } from './ssh-auth.js';
import { checkHostKey, fingerprintOf, formatKnownHostsLine, keyTypeOf } from './known-hosts.js';

export interface HostKeyVerifier {
  /** ssh2's `hostVerifier`: called with the raw key blob; answers through `done`. */
  verify(keyBlob: Buffer, done: (accepted: boolean) => void): void;
  /** Why the key was refused, once `verify` said no. */
  readonly refusal: StekError | undefined;
}

export interface VerifierOptions {
  node: string;
  /** The name known_hosts lists the key under (HostName or HostKeyAlias) and its port. */
  host: string;
  port: number;
  /** How messages name the server when it is not plain `host:port` (an alias, a jump host). */
  label?: string;
  /** Where the key was presented, when not `host:port` (HostKeyAlias): for ssh-keyscan. */
  address?: { host: string; port: number };
  /** Path of the known_hosts file, and its text when the connection started ('' if missing). */
  file: string;
  text: string;
  /** Record an unknown key and proceed (never for a changed or revoked key). */
  acceptNew: boolean;
}

/** The last read per file, whole reads only (not one of a file being written meanwhile). */
const knownHostsTexts = new FileVersionCache(
  (file) => readFile(file, 'utf8'),
  (text, size) => Buffer.byteLength(text) === size,
);

/**
 * The known_hosts text, or '' when the file does not exist (every key is then unknown). Every
 * connection reads it and its verifier keeps it for re-keys: an unchanged file is handed out as
 * the same string, also to connections that start together, so that a fleet of thousands holds
 * one copy, not one per connection.
 */
export async function readKnownHosts(node: string, file: string): Promise<string> {
  try {
    return await knownHostsTexts.read(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new ConnectError(node, `cannot read known_hosts file ${file}: ${describeFsError(err)}`);
  }
}

/** A host key --accept-new recorded: said where the operator sees it, as ssh does. */
export interface RecordedHostKey {
  node: string;
  /** The name the key is recorded under: `host`, or `[host]:port` off port 22. */
  name: string;
  keyType: string;
  fingerprint: string;
  file: string;
}

const recordedListeners = new Set<(key: RecordedHostKey) => void>();

/** Calls `listener` for every host key recorded from now on; returns the unsubscribe. */
export function onHostKeyRecorded(listener: (key: RecordedHostKey) => void): () => void {
  recordedListeners.add(listener);
  return () => recordedListeners.delete(listener);
}

export function createHostKeyVerifier(opts: VerifierOptions): HostKeyVerifier {
  let refusal: StekError | undefined;
  // ssh2 asks again at every re-key: a key recorded once must then match.
  let text = opts.text;
  const decide = async (keyBlob: Buffer): Promise<boolean> => {
    const keyType = keyTypeOf(keyBlob) ?? 'unknown-key-type';
    const check = checkHostKey(text, opts.host, opts.port, keyType, keyBlob);
    if (check.status === 'match') return true;
    const presented = { keyType, fingerprint: fingerprintOf(keyBlob) };
    if (check.status === 'unknown' && opts.acceptNew) {
      const line = formatKnownHostsLine(opts.host, opts.port, keyType, keyBlob);
      await appendKnownHostsLine(opts.node, opts.file, line);
      text = `${text}\n${line}\n`;
      const recorded = {
        node: opts.node,
        name: knownHostsName(opts.host, opts.port),
        file: opts.file,
      };
      for (const listener of recordedListeners) listener({ ...recorded, ...presented });
      return true;
    }
    refusal = hostKeyRefusal(opts, check.status, presented, check.lines ?? [], check.expected);
    return false;
  };
  return {
    verify(keyBlob, done) {
      decide(keyBlob).then(done, (err: unknown) => {
        refusal =
          err instanceof OperationError
            ? err
            : new ConnectError(opts.node, `cannot check the host key: ${String(err)}`);
        done(false);
      });
    },
    get refusal() {
      return refusal;
    },
  };
}

/** Appends one line, creating the file (0600) and its directory (0700) when missing. */
async function appendKnownHostsLine(node: string, file: string, line: string): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const current = await readFile(file, 'utf8').catch(() => '');
    const separator = current.length > 0 && !current.endsWith('\n') ? '\n' : '';
    await appendFile(file, `${separator}${line}\n`, { mode: 0o600 });
  } catch (err) {
    throw new ConnectError(
      node,
      `cannot record the new host key in ${file}: ${describeFsError(err)}`,
    );
  }
}

function hostKeyRefusal(
  opts: VerifierOptions,
  status: 'unknown' | 'changed' | 'revoked',
  presented: { keyType: string; fingerprint: string },
  lines: number[],
  expected: string[] | undefined,
): HostKeyError {
  const where = opts.label ?? formatHostPort(opts.host, opts.port);
  const name = knownHostsName(opts.host, opts.port);
  const key = `${presented.keyType} key ${presented.fingerprint}`;
  const address = opts.address ?? { host: opts.host, port: opts.port };
  const details = { ...address, status, fingerprint: presented.fingerprint };
  if (status === 'unknown') {
    const portFlag = address.port === 22 ? '' : `-p ${address.port} `;
    return new HostKeyError(
      details,
      `host key of ${where} is not known: the node presented ${key}, which ${opts.file} does not list for ${name}; nothing was run. ` +
        `Confirm the fingerprint with the node's administrator, then add the key with ssh-keyscan or rerun with --accept-new.`,
      `ssh-keyscan ${portFlag}-t ${keyscanType(presented.keyType)} ${address.host} >> ${opts.file}` +
        ` (then compare: ssh-keygen -lf ${opts.file})`,
    );
  }
  const at = lines.length > 0 ? ` line ${lines.join(', ')}` : '';
  if (status === 'revoked') {
    return new HostKeyError(
      details,
      `host key of ${where} is revoked: the node presented ${key}, which ${opts.file}${at} marks @revoked; nothing was run.`,
      'A revoked key is never accepted. Give the node a new host key and record that one.',
    );
  }
  const recorded = expected && expected.length > 0 ? ` (recorded: ${expected.join(', ')})` : '';
  return new HostKeyError(
    details,
    `WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for ${where}: the node presented ${key}, but ${opts.file}${at} records another host key for ${name}${recorded}. ` +
      `Someone could be intercepting the connection (man-in-the-middle), or the node's host key was replaced. Nothing was run; --accept-new does not apply to changed keys.`,
    `If the new key is legitimate (check its fingerprint out of band), remove the old entry with: ssh-keygen -f ${opts.file} -R '${name}', then add the new one.`,
  );
}

/** ssh-keyscan's -t names. */
function keyscanType(keyType: string): string {
  if (keyType === 'ssh-ed25519') return 'ed25519';
  if (keyType === 'ssh-rsa') return 'rsa';
  if (keyType.startsWith('ecdsa-')) return 'ecdsa';
  return keyType;
}

/** The host key type ssh2 asks for first by default (where Node supports Ed25519: always). */
export const ssh2FirstHostKeyType = 'ssh-ed25519';

/**
 * ssh asks the server for the host key types it already knows for the host before any other
 * (sshconnect.c order_hostkeyalgs); without that, a node known by its RSA key would present its
 * Ed25519 key, which counts as changed. Nothing is removed from the offer, only reordered.
 *
 * A host known by its Ed25519 key needs no reordering: ssh2 asks for that type first, and the
 * node has it. Then no algorithm is set, and ssh2 shares one key-exchange offer among all
 * connections instead of building one per connection (about 4 KB each, 40 MB at 10,000 nodes).
 */
export function hostKeyAlgorithmOrder(
  knownTypes: string[],
): { remove: string[]; prepend: string[] } | undefined {
  if (knownTypes.includes(ssh2FirstHostKeyType)) return undefined;
  const algorithms = knownTypes.flatMap((type) => {
    if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
    if (type === 'ssh-ed25519' || /^ecdsa-sha2-nistp(256|384|521)$/.test(type)) return [type];
    return [];
  });
  if (algorithms.length === 0) return undefined;
  // ssh2 applies `remove` then `prepend` in key order; prepending alone skips listed names.
  return { remove: algorithms, prepend: algorithms };
}
