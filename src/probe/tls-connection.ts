import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import type { TlsVersion } from '../inventory/types.js';
import { handshakeWorkersActive, runInWorker } from './handshake-workers.js';
import {
  describeConnectError,
  failProbeAt,
  ProbeError,
  type ProbeErrorCode,
} from './probe-error.js';
import { formatAddress, type ProbeTarget } from './probe-target.js';
import { sessionFor } from './session-ticket.js';

/** What one probe connection saw. Holds session bytes: keep it in memory only. */
export interface HandshakeOutcome {
  reused: boolean;
  /** sha256 of the leaf certificate, 'AA:BB:...'; undefined on resumed connections (no certificate is sent). */
  certFingerprint: string | undefined;
  /** Sessions announced by 'session' events, in arrival order. */
  sessions: Buffer[];
  /** getSession() right after the handshake: where TLS 1.2 tickets are, resumed or not. */
  handshakeSession: Buffer | undefined;
}

export interface HandshakeOptions {
  session?: Buffer | undefined;
  /** Aborting destroys the connection and fails the probe as a timeout. */
  signal?: AbortSignal | undefined;
}

/**
 * After a ticket or the first response bytes, wait this long for more tickets. OpenSSL sends
 * its TLS 1.3 tickets back to back, before the response, so a short pause suffices; a server
 * that closes (Connection: close) ends the wait sooner.
 */
const settleMs = 200;
/**
 * How long a finished connection may take to flush its close_notify before it is destroyed
 * anyway (a peer that stopped reading). Nothing waits on the peer's own close.
 */
const closeGraceMs = 1000;
/** OpenSSL's default number of TLS 1.3 tickets per full handshake. */
const ticketsPerHandshake = 2;

const unreachableCodes = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);

function hostHeader(target: ProbeTarget): string {
  const name = target.servername ?? target.host;
  if (target.port !== 443) return formatAddress(name, target.port);
  return name.includes(':') ? `[${name}]` : name;
}

function describeTarget(target: ProbeTarget, version: TlsVersion): string {
  return `${target.node} (${formatAddress(target.host, target.port)}, ${version})`;
}

function toProbeError(err: unknown, target: ProbeTarget, version: TlsVersion): ProbeError {
  const where = describeTarget(target, version);
  const e = err as NodeJS.ErrnoException & { reason?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const detail = e.message ?? String(err);
  const fail = (c: ProbeErrorCode, what: string, hint?: string): ProbeError =>
    failProbeAt(c, target.node, where, what, hint);
  if (unreachableCodes.has(code))
    return fail('unreachable', `cannot connect: ${describeConnectError(e)}`);
  if (
    code.includes('CERT') ||
    code === 'HOSTNAME_MISMATCH' ||
    code === 'ERR_TLS_CERT_ALTNAME_INVALID'
  ) {
    return fail(
      'untrusted-certificate',
      `certificate rejected: ${detail}`,
      `check probe.ca and that the certificate covers ${target.servername ?? target.host}`,
    );
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /before secure TLS connection/.test(detail)) {
    return fail('tls-error', `connection closed during the TLS handshake (${detail})`);
  }
  // OpenSSL's messages carry source paths and numbers; its `reason` says what happened.
  const reason = typeof e.reason === 'string' ? e.reason : '';
  const alert = /SSL alert number (\d+)/.exec(detail)?.[1];
  const text = reason ? `${reason}${alert ? ` (alert ${alert})` : ''}` : detail.trim();
  const hint =
    code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' || code === 'ERR_SSL_UNSUPPORTED_PROTOCOL'
      ? `the server does not accept ${version}; enable it there (nginx: ssl_protocols) or drop it from probe.versions`
      : undefined;
  return fail('tls-error', `TLS handshake failed: ${text}`, hint);
}

async function readCa(target: ProbeTarget, version: TlsVersion): Promise<string | undefined> {
  if (target.ca === undefined) return undefined;
  try {
    return await readFile(target.ca, 'utf8');
  } catch (err) {
    throw failProbeAt(
      'untrusted-certificate',
      target.node,
      describeTarget(target, version),
      `cannot read CA file ${target.ca}: ${(err as Error).message}`,
    );
  }
}

/**
 * Client contexts by version and CA. Without one, every connection builds its own (about a
 * millisecond of CPU, the largest cost of a probe); a rotation of a large pool makes thousands.
 * A client context holds no session: each probe still offers only the session it is given.
 */
const contexts = new Map<string, tls.SecureContext>();

function contextFor(version: TlsVersion, ca: string | undefined): tls.SecureContext {
  const key = `${version}\n${ca ?? ''}`;
  let context = contexts.get(key);
  if (!context) {
    context = tls.createSecureContext({ minVersion: version, maxVersion: version, ca });
    contexts.set(key, context);
  }
  return context;
}

/**
 * One TLS connection at exactly `version`: handshake, a minimal HTTP/1.1 request (some servers,
 * HAProxy among them, send TLS 1.3 tickets only after application data), then wait for tickets
 * until the server closes, the tickets have settled, or the connection's timeout passes. Never
 * outlives `target.timeoutMs`. Runs in a probe worker thread when useHandshakeWorkers started
 * some, else on this thread.
 */
export async function runHandshake(
  target: ProbeTarget,
  version: TlsVersion,
  options: HandshakeOptions = {},
): Promise<HandshakeOutcome> {
  if (handshakeWorkersActive()) {
    return runInWorker({ target, version, session: options.session }, options.signal);
  }
  return runHandshakeHere(target, version, options);
}

/** runHandshake on the calling thread. */
export async function runHandshakeHere(
  target: ProbeTarget,
  version: TlsVersion,
  options: HandshakeOptions = {},
): Promise<HandshakeOutcome> {
  const ca = await readCa(target, version);
  const verifyName = target.servername ?? target.host;
  // RFC 6066 forbids IP literals in SNI.
  const sni = target.servername && isIP(target.servername) === 0 ? target.servername : undefined;

  return new Promise<HandshakeOutcome>((resolve, reject) => {
    const outcome: HandshakeOutcome = {
      reused: false,
      certFingerprint: undefined,
      sessions: [],
      handshakeSession: undefined,
    };
    let handshakeDone = false;
    let settled = false;
    let settleTimer: NodeJS.Timeout | undefined;

    const socket = tls.connect({
      host: target.host,
      port: target.port,
      servername: sni,
      secureContext: contextFor(version, ca),
      // The identity Node binds sessions to: the servername, else the host.
      session: options.session && sessionFor(options.session, sni ?? target.host),
      rejectUnauthorized: ca !== undefined,
      checkServerIdentity: (_host, cert) =>
        ca === undefined ? undefined : tls.checkServerIdentity(verifyName, cert),
    });

    const finish = (error?: ProbeError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(settleTimer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('data');
      // A late error from a socket we are done with must not become an unhandled 'error'.
      socket.on('error', () => undefined);
      if (error || !handshakeDone) {
        socket.destroy();
      } else {
        // Everything the probe wanted is in: send close_notify and FIN, and free the socket as
        // soon as they are written (destroySoon) instead of waiting for the peer's close. A
        // large pool's probes otherwise hold thousands of finished sockets (and their OpenSSL
        // state) at the peak. The timer is only for a send that never drains, and is cleared
        // on close so that it does not keep the socket reachable.
        socket.resume();
        socket.destroySoon();
        const stuck = setTimeout(() => socket.destroy(), closeGraceMs).unref();
        socket.once('close', () => clearTimeout(stuck));
      }
      if (error) reject(error);
      else resolve(outcome);
    };
    const expire = (why: string): void => {
      if (handshakeDone) finish();
      else finish(failProbeAt('timeout', target.node, describeTarget(target, version), why));
    };
    const onAbort = (): void => expire('no TLS handshake before the probe deadline');
    const armSettle = (): void => {
      clearTimeout(settleTimer);
      settleTimer = setTimeout(() => finish(), settleMs);
    };

    const deadline = setTimeout(
      () => expire(`no TLS handshake within ${target.timeoutMs} ms`),
      target.timeoutMs,
    );
    if (options.signal?.aborted) {
      queueMicrotask(onAbort);
    } else {
      options.signal?.addEventListener('abort', onAbort, { once: true });
    }

    socket.on('session', (session: Buffer) => {
      outcome.sessions.push(session);
      if (!handshakeDone) return;
      if (version === 'TLSv1.3' && outcome.sessions.length >= ticketsPerHandshake) finish();
      else armSettle();
    });
    socket.on('secureConnect', () => {
      handshakeDone = true;
      outcome.reused = socket.isSessionReused();
      // A resumed handshake carries no certificate: node:tls would report the one the session
      // was made with, the issuing node's (and building it is 5% of a probe's CPU).
      if (!outcome.reused) {
        const cert = socket.getPeerCertificate();
        outcome.certFingerprint = cert && cert.fingerprint256 ? cert.fingerprint256 : undefined;
      }
      outcome.handshakeSession = socket.getSession();
      if (version === 'TLSv1.2') {
        // TLS 1.2 tickets travel inside the handshake: everything is known now.
        finish();
        return;
      }
      socket.write(
        `GET / HTTP/1.1\r\nHost: ${hostHeader(target)}\r\nUser-Agent: stekctl\r\nConnection: close\r\n\r\n`,
      );
      if (outcome.sessions.length >= ticketsPerHandshake) finish();
      else if (outcome.sessions.length > 0) armSettle();
    });
    socket.on('data', () => armSettle());
    // A peer that ends the connection before the handshake (a proxy with no backend, a
    // listener that is not TLS) has not refused a ticket: that is a failure, not "not resumed".
    const closed = (): void =>
      finish(
        handshakeDone
          ? undefined
          : failProbeAt(
              'tls-error',
              target.node,
              describeTarget(target, version),
              'connection closed before the TLS handshake completed',
            ),
      );
    socket.on('end', closed);
    socket.on('close', closed);
    socket.on('error', (err) => {
      if (handshakeDone) finish();
      else finish(toProbeError(err, target, version));
    });
  });
}
