import type { TlsVersion } from '../inventory/types.js';
import { ProbeError } from './probe-error.js';
import type { ProbeTarget } from './probe-target.js';
import { readKeyId, readSessionTicket } from './session-ticket.js';
import { shareString } from './shared-strings.js';
import { runHandshake, type HandshakeOutcome } from './tls-connection.js';

export { ProbeError, type ProbeErrorCode } from './probe-error.js';
export { formatAddress, toProbeTarget, type ProbeTarget } from './probe-target.js';

/**
 * A ticket taken from one node by a full handshake. `session` is the serialised client session
 * (it holds the resumption secret): keep it in memory, never print or store it.
 */
export interface TicketSample {
  node: string;
  version: TlsVersion;
  /** Hex of the ticket's first 16 bytes: the name of the key that encrypted it. */
  keyId: string | undefined;
  /** sha256 of the leaf certificate's DER, uppercase hex pairs joined by ':' (as `openssl x509 -fingerprint -sha256`). */
  certFingerprint: string;
  /** Undefined when the node issued no ticket. */
  session: Buffer | undefined;
  ticketLifetimeHint?: number;
  /**
   * The node issued a session-cache reference instead of a ticket (OpenSSL does so for TLS 1.3
   * when tickets are off): it resumes only on that node, and names no key.
   */
  stateful?: boolean;
  /** When the ticket was received, ms since the epoch. */
  takenAt: number;
}

/** The result of offering a ticket to a node. */
export interface ResumeResult {
  /** The node the ticket was offered to. */
  node: string;
  /** The node that issued the offered ticket. */
  from: string;
  version: TlsVersion;
  reused: boolean;
  /** Key id of the offered ticket. */
  offeredKeyId: string | undefined;
  /**
   * Key id of a ticket issued on this connection, if any: after a full handshake it names the key
   * the node encrypts with; a resumed connection may re-issue one (nginx renews tickets under a
   * decrypt-only key), in which case it names the node's encrypting key as well.
   */
  keyId: string | undefined;
  /** Undefined when resumed: a resumed handshake carries no certificate. */
  certFingerprint: string | undefined;
}

export interface ProbeCallOptions {
  /** Aborting ends the connection at once and fails the probe as a timeout. */
  signal?: AbortSignal | undefined;
}

/** The ticket a connection left behind: the last TLS 1.3 ticket, or the TLS 1.2 handshake's. */
function pickSession(outcome: HandshakeOutcome, version: TlsVersion): Buffer | undefined {
  return version === 'TLSv1.3' ? outcome.sessions.at(-1) : outcome.handshakeSession;
}

/**
 * Full handshake at exactly `version` and the ticket it yields. A node that completes the
 * handshake but issues no ticket gives a sample without `session`; connection failures throw
 * ProbeError (timeout, unreachable, tls-error, untrusted-certificate).
 */
export async function takeTicket(
  target: ProbeTarget,
  version: TlsVersion,
  options: ProbeCallOptions = {},
): Promise<TicketSample> {
  const outcome = await runHandshake(target, version, { signal: options.signal });
  const session = pickSession(outcome, version);
  const parsed = session ? readSessionTicket(session) : undefined;
  const keyId = readKeyId(parsed?.ticket);
  const sample: TicketSample = {
    node: target.node,
    version,
    keyId,
    certFingerprint: shareString(outcome.certFingerprint ?? ''),
    session: keyId === undefined ? undefined : session,
    takenAt: Date.now(),
  };
  if (parsed?.lifetimeHint !== undefined) sample.ticketLifetimeHint = parsed.lifetimeHint;
  if (parsed && keyId === undefined) sample.stateful = true;
  return sample;
}

/**
 * Offers `sample`'s ticket to `target` and reports whether the session was resumed. A server
 * that cannot use a ticket silently does a full handshake, so "not resumed" is an answer, not
 * an error. Throws ProbeError('no-ticket') when the sample holds no ticket.
 */
export async function offerTicket(
  target: ProbeTarget,
  version: TlsVersion,
  sample: TicketSample,
  options: ProbeCallOptions = {},
): Promise<ResumeResult> {
  if (!sample.session) {
    throw new ProbeError(
      'no-ticket',
      sample.node,
      `${sample.node} issued no ${version} ticket to offer to ${target.node}`,
    );
  }
  if (sample.version !== version) {
    throw new ProbeError(
      'tls-error',
      sample.node,
      `a ${sample.version} ticket from ${sample.node} cannot be offered over ${version}`,
    );
  }
  const offered = readSessionTicket(sample.session)?.ticket;
  const outcome = await runHandshake(target, version, {
    session: sample.session,
    signal: options.signal,
  });
  const fresh = readSessionTicket(pickSession(outcome, version) ?? Buffer.alloc(0))?.ticket;
  // A resumed TLS 1.2 connection reports the offered ticket unless the server renewed it.
  const issued = fresh && offered && fresh.equals(offered) ? undefined : fresh;
  return {
    node: target.node,
    from: sample.node,
    version,
    reused: outcome.reused,
    offeredKeyId: readKeyId(offered),
    keyId: readKeyId(issued),
    certFingerprint: shareString(outcome.certFingerprint),
  };
}
