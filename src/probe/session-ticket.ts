import { shareString } from './shared-strings.js';

/**
 * Reads the ticket out of a serialised client session (OpenSSL's DER `SSL_SESSION`, as Node
 * hands it out in 'session' events and getSession()). Node exposes the ticket of the current
 * connection only for TLS 1.2 (getTLSTicket()); the DER form works for both versions and also
 * carries the lifetime hint.
 *
 * SSL_SESSION ::= SEQUENCE { version, sslVersion, cipher, sessionId, masterKey, ...,
 *   ticketLifetimeHint [9] EXPLICIT INTEGER OPTIONAL, ticket [10] EXPLICIT OCTET STRING OPTIONAL, ... }
 */

export interface SessionTicket {
  /** The ticket as sent by the server: name(16) | IV(16) | ciphertext | HMAC(32) when stateless. */
  ticket: Buffer;
  lifetimeHint: number | undefined;
}

/**
 * The smallest ticket a key can have produced: name, IV, one cipher block and the HMAC.
 * Anything shorter is a stateful reference (OpenSSL issues the session id as a "ticket" in
 * TLS 1.3 when tickets are off), which names no key.
 */
export const minStatelessTicketLength = 16 + 16 + 16 + 32;

const tagSequence = 0x30;
const tagInteger = 0x02;
const tagOctetString = 0x04;
const tagLifetimeHint = 0xa9;
const tagTicket = 0xaa;

interface DerItem {
  tag: number;
  start: number;
  end: number;
}

function readItem(der: Buffer, offset: number, limit: number): DerItem | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = der[offset] as number;
  let length = der[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    // Sessions are a few kilobytes: four length octets are far more than enough.
    if (octets === 0 || octets > 4 || start + octets > limit) return undefined;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (der[start + i] as number);
    start += octets;
  }
  const end = start + length;
  if (end > limit) return undefined;
  return { tag, start, end };
}

function readUnsigned(der: Buffer, item: DerItem): number | undefined {
  const bytes = der.subarray(item.start, item.end);
  if (bytes.length === 0 || bytes.length > 6) return undefined;
  return bytes.reduce((acc, b) => acc * 256 + b, 0);
}

/**
 * Node 22.23, 24.17 and later (CVE-2026-48934) put the identity a session was authenticated for
 * in front of the DER: this prefix, a 16-bit length and the name (the connection's servername,
 * else its host). They resume a session only on a connection to that same identity, and a bare
 * DER session only without certificate verification. Node 20 hands out bare DER.
 */
const identityPrefix = Buffer.from('\0nodejs:tls:session:1\0', 'latin1');

function splitSession(session: Buffer): { identity: string; der: Buffer } | undefined {
  const start = identityPrefix.length;
  if (session.length < start + 2 || !session.subarray(0, start).equals(identityPrefix)) {
    return undefined;
  }
  const end = start + 2 + session.readUInt16BE(start);
  if (session.length < end) return undefined;
  return { identity: session.toString('utf8', start + 2, end), der: session.subarray(end) };
}

/**
 * A session taken from one node, to be offered to another: the whole point of the probes, which
 * test that a peer resumes the ticket (not who the peer is; with `probe.ca` the first handshake
 * verified the certificate). Node would drop a session recorded for another identity, so the
 * record names `identity`, the one Node derives for the connection it is offered on.
 */
export function sessionFor(session: Buffer, identity: string): Buffer {
  const split = splitSession(session);
  if (!split || split.identity === identity) return session;
  const name = Buffer.from(identity, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(name.length, 0);
  return Buffer.concat([identityPrefix, length, name, split.der]);
}

/** Returns the ticket held by a serialised session, or undefined when it holds none. */
export function readSessionTicket(serialised: Buffer): SessionTicket | undefined {
  const session = splitSession(serialised)?.der ?? serialised;
  const outer = readItem(session, 0, session.length);
  if (!outer || outer.tag !== tagSequence) return undefined;
  let ticket: Buffer | undefined;
  let lifetimeHint: number | undefined;
  let offset = outer.start;
  while (offset < outer.end) {
    const item = readItem(session, offset, outer.end);
    if (!item) break;
    if (item.tag === tagLifetimeHint || item.tag === tagTicket) {
      const inner = readItem(session, item.start, item.end);
      if (inner?.tag === tagInteger && item.tag === tagLifetimeHint) {
        lifetimeHint = readUnsigned(session, inner);
      } else if (inner?.tag === tagOctetString && item.tag === tagTicket) {
        ticket = Buffer.from(session.subarray(inner.start, inner.end));
      }
    }
    offset = item.end;
  }
  return ticket && ticket.length > 0 ? { ticket, lifetimeHint } : undefined;
}

/** The public key id of a ticket: its first 16 bytes, hex. Undefined for stateful references. */
export function readKeyId(ticket: Buffer | undefined): string | undefined {
  if (!ticket || ticket.length < minStatelessTicketLength) return undefined;
  return shareString(ticket.subarray(0, 16).toString('hex'));
}
