/**
 * OpenSSH known_hosts, read the way ssh(1) reads it (hostfile.c), from the file's text.
 *
 * Supported: plain host lists (`host1,host2 type base64 [comment]`), `[host]:port` names (port 22
 * is written bare), hashed names (`|1|salt|hmac`), `*` / `?` wildcards, `!negated` patterns,
 * IPv6 literals (`[::1]:2222`), comments, blank lines and the `@revoked` marker. Lines ssh would
 * reject (bad marker, bad hash, undecodable key, key type not matching the key) are skipped, as
 * ssh skips them.
 *
 * Not supported: `@cert-authority` lines are ignored: the SSH library offers no certificate host
 * key algorithms, so a server never presents a certificate to check against a CA.
 */
import { createHash } from 'node:crypto';
import {
  hashHostName,
  knownHostsName,
  matchHostField,
  saltOfHashedField,
} from './host-patterns.js';

export interface KnownHostsEntry {
  /** 1-based line number in the file. */
  line: number;
  marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field as written: a pattern list or one hashed name. */
  hosts: string;
  keyType: string;
  keyBlob: Buffer;
}

export type HostKeyStatus = 'match' | 'unknown' | 'changed' | 'revoked';

export interface HostKeyCheck {
  status: HostKeyStatus;
  /** For 'changed': the keys known_hosts records for the host, as `<type> SHA256:<fp>`. */
  expected?: string[];
  /** Line numbers: the matching entry, the revocation, or (for 'changed') the recorded keys. */
  lines?: number[];
}

/** Every well-formed entry of a known_hosts file, in file order. */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const entry = parseLine(raw.replace(/\r$/, ''), index + 1);
    if (entry) entries.push(entry);
  });
  return entries;
}

/**
 * The entries that may name `name`, in file order: those listing it literally, and every hashed
 * or wildcard entry (callers still match each one). A fleet's known_hosts lists thousands of
 * hosts and every connection looks one up, so the file is indexed once per text, not scanned
 * per connection.
 */
function entriesFor(text: string, name: string): KnownHostsEntry[] {
  if (text !== indexed.text) indexed = { text, index: indexEntries(parseKnownHosts(text)) };
  const { literal, patterned } = indexed.index;
  const named = literal.get(name.toLowerCase()) ?? [];
  if (patterned.length === 0) return named;
  return [...named, ...patterned].sort((a, b) => a.line - b.line);
}

interface KnownHostsIndex {
  /** Entries whose host field is a plain list of names, by lower-cased name. */
  literal: Map<string, KnownHostsEntry[]>;
  /** Hashed entries and those with `*`, `?` or `!` patterns. */
  patterned: KnownHostsEntry[];
}

let indexed: { text: string | undefined; index: KnownHostsIndex } = {
  text: undefined,
  index: { literal: new Map(), patterned: [] },
};

function indexEntries(entries: KnownHostsEntry[]): KnownHostsIndex {
  const index: KnownHostsIndex = { literal: new Map(), patterned: [] };
  for (const entry of entries) {
    if (entry.hosts.startsWith('|') || /[*?!]/.test(entry.hosts)) {
      index.patterned.push(entry);
      continue;
    }
    for (const host of new Set(entry.hosts.toLowerCase().split(','))) {
      const list = index.literal.get(host);
      if (list) list.push(entry);
      else index.literal.set(host, [entry]);
    }
  }
  return index;
}

function parseLine(text: string, line: number): KnownHostsEntry | undefined {
  const fields = text.trim().split(/[ \t]+/);
  if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return undefined;
  let marker: KnownHostsEntry['marker'];
  if (fields[0].startsWith('@')) {
    const word = fields.shift();
    if (word === '@revoked') marker = 'revoked';
    else if (word === '@cert-authority') marker = 'cert-authority';
    else return undefined;
  }
  const [hosts, keyType, base64] = fields;
  if (!hosts || hosts.startsWith('@') || !keyType || !base64) return undefined;
  if (hosts.startsWith('|') && saltOfHashedField(hosts) === undefined) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const keyBlob = Buffer.from(base64, 'base64');
  // ssh refuses an entry whose blob names another type than the line does.
  if (keyTypeOf(keyBlob) !== keyType) return undefined;
  return { line, marker, hosts, keyType, keyBlob };
}

/**
 * Checks the key a server presented against known_hosts, as ssh does:
 *
 * - 'revoked': an `@revoked` entry for the host holds this key. It wins over everything.
 * - 'match': a plain entry for the host holds this exact key.
 * - 'changed': entries for the host exist but none holds this key. As in OpenSSH (checked with
 *   ssh 9.2: an RSA-only entry and a server presenting Ed25519 gives "REMOTE HOST IDENTIFICATION
 *   HAS CHANGED"), an entry of *another* key type counts too. ssh avoids that case in practice by
 *   asking the server for the key types it already knows first; openSession does the same
 *   (see knownKeyTypes).
 * - 'unknown': no plain entry names the host. A missing file is an empty text.
 */
export function checkHostKey(
  knownHostsText: string,
  host: string,
  port: number,
  keyType: string,
  keyBlob: Buffer,
): HostKeyCheck {
  const name = knownHostsName(host, port);
  let matchLine: number | undefined;
  let revokedLine: number | undefined;
  const others: KnownHostsEntry[] = [];
  for (const entry of entriesFor(knownHostsText, name)) {
    if (entry.marker === 'cert-authority') continue;
    if (matchHostField(entry.hosts, name) !== true) continue;
    const same = entry.keyType === keyType && entry.keyBlob.equals(keyBlob);
    if (entry.marker === 'revoked') {
      if (same) revokedLine ??= entry.line;
    } else if (same) {
      matchLine ??= entry.line;
    } else {
      others.push(entry);
    }
  }
  if (revokedLine !== undefined) return { status: 'revoked', lines: [revokedLine] };
  if (matchLine !== undefined) return { status: 'match', lines: [matchLine] };
  if (others.length > 0) {
    return {
      status: 'changed',
      expected: others.map((e) => `${e.keyType} ${fingerprintOf(e.keyBlob)}`),
      lines: others.map((e) => e.line),
    };
  }
  return { status: 'unknown' };
}

/** Key types recorded (not revoked) for the host, in file order, without repeats. */
export function knownKeyTypes(knownHostsText: string, host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  const types = new Set<string>();
  for (const entry of entriesFor(knownHostsText, name)) {
    if (entry.marker === undefined && matchHostField(entry.hosts, name) === true) {
      types.add(entry.keyType);
    }
  }
  return [...types];
}

/** One known_hosts line (no newline) recording `keyBlob` for the host, plain or hashed. */
export function formatKnownHostsLine(
  host: string,
  port: number,
  keyType: string,
  keyBlob: Buffer,
  opts: { hashed?: boolean } = {},
): string {
  const name = knownHostsName(host, port);
  const field = opts.hashed ? hashHostName(name) : name;
  return `${field} ${keyType} ${keyBlob.toString('base64')}`;
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` and ssh print it. */
export function fingerprintOf(keyBlob: Buffer): string {
  const digest = createHash('sha256').update(keyBlob).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/** The key type named by a public key blob (its first SSH string), or undefined if malformed. */
export function keyTypeOf(keyBlob: Buffer): string | undefined {
  if (keyBlob.length < 4) return undefined;
  const length = keyBlob.readUInt32BE(0);
  if (length === 0 || length > 64 || keyBlob.length < 4 + length) return undefined;
  const type = keyBlob.subarray(4, 4 + length).toString('latin1');
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}
