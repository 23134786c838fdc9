import type { NodeSpec, PoolSpec } from '../inventory/types.js';
import { openSession, type RemoteSession } from '../remote/ssh-session.js';
import { createUnreachableProber, openSshProber } from './ssh-probe.js';
import { directProber, type Prober } from './verify-pool.js';

/** The prober a pool's probes go through, chosen by its nodes' `probe.via`. */
export interface PoolProber {
  readonly prober: Prober;
  readonly via: 'direct' | 'ssh';
  /** With `via: ssh`, the node that runs the handshakes; undefined when none could. */
  readonly probedFrom: string | undefined;
  /** With `via: ssh` and no node able to run the handshakes: each node tried, and why. */
  readonly failures: { node: string; reason: string }[];
  /** Removes the session files from the probing node, and ends a connection opened for it. */
  close(): Promise<void>;
}

export interface PoolProberOptions {
  acceptNewHostKey: boolean;
  /**
   * Open connections to reuse; a connection opened here goes into it and the caller closes it.
   * Without it the prober has a connection of its own, which close() ends: then nothing else
   * that the run does on that node (a reconnection, a dropped command) can cut its probes off.
   */
  sessions?: Map<NodeSpec, RemoteSession>;
  /** How to connect to a node; default openSession. */
  connect?: (node: NodeSpec, acceptNewHostKey: boolean) => Promise<RemoteSession>;
}

/** Pool nodes tried, in inventory order, to run the handshakes of a `probe.via: ssh` pool. */
export const sshProberCandidates = 3;

/** A pool is probed over SSH when any of its nodes asks for it. */
export function probeViaOf(pool: PoolSpec): 'direct' | 'ssh' {
  return pool.nodes.some((n) => n.probe.via === 'ssh') ? 'ssh' : 'direct';
}

function connectDefault(node: NodeSpec, acceptNewHostKey: boolean): Promise<RemoteSession> {
  return openSession(node, { acceptNewHostKey });
}

/**
 * The prober for `pool`: directProber, or openssl on the first of its first
 * sshProberCandidates nodes that accepts a connection and has what the probes need. When none
 * does, every probe of the returned prober fails as unreachable and `failures` says why; the
 * caller decides whether that stops it. Never rejects.
 */
export async function openPoolProber(pool: PoolSpec, opts: PoolProberOptions): Promise<PoolProber> {
  if (probeViaOf(pool) === 'direct') {
    return {
      prober: directProber,
      via: 'direct',
      probedFrom: undefined,
      failures: [],
      close: () => Promise.resolve(),
    };
  }
  const connect = opts.connect ?? connectDefault;
  const failures: { node: string; reason: string }[] = [];
  for (const node of pool.nodes.slice(0, sshProberCandidates)) {
    let own: RemoteSession | undefined;
    try {
      let session = opts.sessions?.get(node);
      if (!session) {
        session = await connect(node, opts.acceptNewHostKey);
        if (opts.sessions) opts.sessions.set(node, session);
        else own = session;
      }
      const prober = await openSshProber(session);
      return {
        prober,
        via: 'ssh',
        probedFrom: node.name,
        failures: [],
        close: async () => {
          await prober.close();
          await own?.close().catch(() => undefined);
        },
      };
    } catch (err) {
      await own?.close().catch(() => undefined);
      failures.push({ node: node.name, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  return {
    prober: createUnreachableProber(
      'not probed: no node of the pool could run the probes over SSH',
    ),
    via: 'ssh',
    probedFrom: undefined,
    failures,
    close: () => Promise.resolve(),
  };
}
