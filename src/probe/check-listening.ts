import { connect } from 'node:net';
import pLimit from 'p-limit';
import type { TlsVersion } from '../inventory/types.js';
import { describeConnectError, ProbeError } from './probe-error.js';
import { formatAddress, type ProbeTarget } from './probe-target.js';
import { createDeadline, pause } from './run-bounded.js';
import type { Prober } from './verify-pool.js';

/** A node whose probe address accepted no connection, and why. */
export interface SilentTarget {
  node: string;
  reason: string;
}

export interface ListeningOptions {
  /** Connections open at once. */
  concurrency: number;
  /** Wait before asking a refusing node again; a server in the middle of a restart gets that long. */
  retryAfterMs?: number;
  /** The TLS server's kind, for the message. */
  server: string;
  /**
   * Ends the check at once. A node not asked to the end counts as answering, unless a first
   * answer already said otherwise: the checks after each reload still find it.
   */
  signal?: AbortSignal;
  /**
   * How one target is asked. Default: a TCP connection from this machine (see askThrough for
   * pools probed from one of their nodes).
   */
  ask?: Ask;
}

/** Why a target did not answer, and whether a second try could change that. */
export interface Silence {
  why: string;
  /** False once the try waited its whole timeout: a second one would only wait as long again. */
  askAgain: boolean;
}

/** Undefined when the target answered (or the signal ended the try). */
export type Ask = (target: ProbeTarget, signal: AbortSignal) => Promise<Silence | undefined>;

const defaultRetryAfterMs = 1000;

/**
 * The targets whose TLS port accepts no TCP connection. A node whose TLS server is stopped
 * still answers on SSH: without this it passes the preflight and the run finds out at the
 * stage's reload, which fails with the server's own message (nginx: `invalid PID number ""`),
 * and rolls the pool back. A bare connection, closed at once, tells that apart before anything
 * is written, for a fraction of a handshake's cost on both sides. A refused connection is tried
 * again `retryAfterMs` later (a server in the middle of a restart); a timed-out one is not.
 * Never rejects.
 */
export async function findSilentTargets(
  targets: readonly ProbeTarget[],
  opts: ListeningOptions,
): Promise<SilentTarget[]> {
  const limit = pLimit(Math.max(1, opts.concurrency));
  // Every connection under way listens on it: more than Node's default of 10 is expected.
  const never = createDeadline(2 ** 31 - 1, opts.signal);
  const signal = never.signal;
  const one = opts.ask ?? tryConnect;
  const ask = (list: readonly ProbeTarget[]): Promise<(Silence | undefined)[]> =>
    Promise.all(list.map((t) => limit(() => (signal.aborted ? undefined : one(t, signal)))));
  const verdicts = new Map<ProbeTarget, Silence>();
  try {
    const first = await ask(targets);
    for (const [i, t] of targets.entries()) {
      const silence = first[i];
      if (silence) verdicts.set(t, silence);
    }
    const again = [...verdicts].filter(([, v]) => v.askAgain).map(([t]) => t);
    if (again.length > 0) {
      await pause(opts.retryAfterMs ?? defaultRetryAfterMs, signal);
      const second = await ask(again);
      for (const [i, t] of again.entries()) {
        const silence = second[i];
        if (silence) verdicts.set(t, silence);
        // Cut short, the first answer stands.
        else if (!signal.aborted) verdicts.delete(t);
      }
    }
  } finally {
    never.dispose();
  }
  // Probed from this machine, the port may be closed to it alone.
  const direct = opts.ask === undefined;
  return [...verdicts].map(([target, { why }]) => ({
    node: target.node,
    reason:
      `nothing accepts connections on ${formatAddress(target.host, target.port)} (${why}): ` +
      `is the TLS server (${opts.server}) running? The rotation's checks need it: start it, ` +
      'or take the node out of the pool' +
      (direct ? ' (if only this machine cannot reach that port, set probe.via: ssh)' : ''),
  }));
}

/**
 * Asks through a pool's prober, one handshake at `version`, for pools probed from one of their
 * nodes (`probe.via: ssh`), where this machine's own connection would prove nothing. Only a
 * connection that was not made, or a handshake that did not come, counts: any other failure is
 * left to the checks that follow.
 */
export function askThrough(prober: Prober, version: TlsVersion, from: string): Ask {
  return async (target, signal) => {
    try {
      await prober.takeTicket(target, version, { signal });
      return undefined;
    } catch (err) {
      if (!(err instanceof ProbeError) || signal.aborted) return undefined;
      // Only s_client's own failure to connect: a probing node lost over SSH is not the target's.
      if (err.code === 'unreachable' && err.detail.startsWith('cannot connect: '))
        return { why: `from ${from}: ${err.detail}`, askAgain: true };
      if (err.code === 'timeout') {
        const why = `from ${from}: no handshake within ${target.timeoutMs / 1000} s`;
        return { why, askAgain: false };
      }
      return undefined;
    }
  };
}

/** Undefined once the connection opens (or the check is ended); otherwise why it did not. */
function tryConnect(target: ProbeTarget, signal: AbortSignal): Promise<Silence | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    const onAbort = (): void => done(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    const done = (why: Silence | undefined): void => {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(
      () => done({ why: `no answer within ${target.timeoutMs / 1000} s`, askAgain: false }),
      target.timeoutMs,
    );
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ why: describeConnectError(err), askAgain: true }),
    );
  });
}
