import type { TlsVersion } from '../inventory/types.js';
import { ProbeError } from './probe-error.js';
import type { ProbeFailure } from './report-types.js';
import { createDeadline, pause, runBounded, type TaskOutcome } from './run-bounded.js';
import type { ProbeTarget } from './probe-target.js';
import type { TicketSample } from './tls-probe.js';
import { describeFailure, directProber, type Prober } from './verify-pool.js';

export interface KeyConfirmation {
  ok: boolean;
  nodes: {
    node: string;
    version: TlsVersion;
    /** The key id of the last ticket seen from the node, if any. */
    keyId: string | undefined;
    confirmed: boolean;
    attempts: number;
    /** The last connection failure, when the last attempt failed. */
    error?: ProbeFailure;
  }[];
  /**
   * The ticket that confirmed each confirmed node and version: issued under the expected key by
   * the generation that serves now. In memory only (samples hold sessions, or a prober's handles).
   */
  tickets: TicketSample[];
}

export interface ConfirmOptions {
  /**
   * The least time between two probes of one node, and between a node's reload (`reloadedAt`)
   * and its first probe. Default 250 ms: nginx's master lets the old workers accept for 100 ms
   * after it started the new ones (ngx_master_process_cycle: "allow new processes to start"),
   * so a ticket taken sooner may come from the generation being replaced.
   */
  intervalMs?: number;
  concurrency?: number;
  /**
   * Tickets in a row under the expected key that confirm a node: one number for every node, or
   * per node name (2 for a node not in the map). Default 2.
   */
  confirmations?: number | ReadonlyMap<string, number>;
  /**
   * Per node name, when its reload was seen to take effect (ms since the epoch, this machine's
   * clock): the node's first probe waits until `intervalMs` after it.
   */
  reloadedAt?: ReadonlyMap<string, number>;
  signal?: AbortSignal;
  /** Where the handshakes run; default directProber. */
  prober?: Prober;
}

const defaultConcurrency = 8;
const defaultConfirmations = 2;
const defaultIntervalMs = 250;

/**
 * Confirms a reload by what the servers do: takes fresh tickets, round after round, until every
 * node issued as many tickets in a row under `expectedKeyId` as it needs (`confirmations`), or
 * the deadline passes. Two in a row, `intervalMs` apart, guard against an old generation that
 * still answers just after a reload (Apache's old children after a graceful restart, a node
 * whose new generation was not seen node-side); one suffices for a node whose transaction saw
 * the new generation and whose old one stops answering soon after (see `intervalMs`).
 */
export async function confirmKeyEverywhere(
  targets: ProbeTarget[],
  versions: TlsVersion[],
  expectedKeyId: string,
  deadlineMs: number,
  opts: ConfirmOptions = {},
): Promise<KeyConfirmation> {
  const prober = opts.prober ?? directProber;
  const interval = opts.intervalMs ?? defaultIntervalMs;
  const neededFor = (node: string): number => {
    const c = opts.confirmations;
    return Math.max(1, typeof c === 'number' ? c : (c?.get(node) ?? defaultConfirmations));
  };
  const states = versions.flatMap((version) =>
    targets.map((target) => {
      const reloaded = opts.reloadedAt?.get(target.node);
      return {
        target,
        version,
        needed: neededFor(target.node),
        notBefore: reloaded === undefined ? 0 : reloaded + interval,
        keyId: undefined as string | undefined,
        sample: undefined as TicketSample | undefined,
        streak: 0,
        attempts: 0,
        error: undefined as ProbeFailure | undefined,
      };
    }),
  );
  const rounds = Math.max(1, ...states.map((s) => s.needed));
  // The clock starts once every node was asked as often as it needs: a large pool takes longer
  // than the deadline just to ask each node (N x versions handshakes, `concurrency` at a time),
  // and cutting that short would blame nodes that were never asked. Those first rounds are
  // bounded by each probe's own timeout.
  const asking = createDeadline(2 ** 31 - 1, opts.signal);
  let deadline = asking;
  let round = 0;
  try {
    let pending = states;
    while (pending.length > 0 && !deadline.signal.aborted) {
      if (round === rounds) deadline = createDeadline(deadlineMs, opts.signal);
      round += 1;
      // Those that may be probed first go first, so that a wait holds as few slots as possible.
      const batch = [...pending].sort((a, b) => a.notBefore - b.notBefore);
      const outcomes = await runBounded(
        batch.map((s) => async (signal) => {
          // The spacing is per node: in a large pool a round outlasts it and nobody waits.
          await pause(s.notBefore - Date.now(), signal);
          if (signal.aborted) {
            throw new ProbeError(
              'timeout',
              s.target.node,
              `${s.target.node}: not asked before the deadline`,
            );
          }
          try {
            return await prober.takeTicket(s.target, s.version, { signal });
          } finally {
            s.notBefore = Date.now() + interval;
          }
        }),
        opts.concurrency ?? defaultConcurrency,
        deadline.signal,
      );
      batch.forEach((s, i) => {
        const outcome = outcomes[i] as TaskOutcome<TicketSample>;
        if (outcome.status === 'timed-out' && deadline.signal.aborted && s.attempts > 0) return;
        s.attempts += 1;
        s.error = describeOutcome(outcome, s.target.node);
        if (outcome.status === 'done') {
          s.keyId = outcome.value.keyId;
          s.sample = outcome.value;
        }
        s.streak = outcome.status === 'done' && s.keyId === expectedKeyId ? s.streak + 1 : 0;
      });
      pending = states.filter((s) => s.streak < s.needed);
    }
  } finally {
    asking.dispose();
    deadline.dispose();
  }
  const tickets: TicketSample[] = [];
  const nodes = states.map((s) => {
    const confirmed = s.streak >= s.needed;
    if (confirmed && s.sample) tickets.push(s.sample);
    const entry: KeyConfirmation['nodes'][number] = {
      node: s.target.node,
      version: s.version,
      keyId: s.keyId,
      confirmed,
      attempts: s.attempts,
    };
    if (s.error) entry.error = s.error;
    return entry;
  });
  return { ok: nodes.every((n) => n.confirmed), nodes, tickets };
}

function describeOutcome(outcome: TaskOutcome<unknown>, what: string): ProbeFailure | undefined {
  if (outcome.status === 'done') return undefined;
  if (outcome.status === 'failed') return describeFailure(outcome.error);
  return { code: 'timeout', message: `${what}: not finished before the check's deadline` };
}
