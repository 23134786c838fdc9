import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import type { NodeSpec, ServerKind, TlsVersion } from '../inventory/types.js';
import {
  confirmKeyEverywhere,
  directProber,
  toProbeTarget,
  type KeyConfirmation,
  type Prober,
} from '../probe/index.js';
import type { ApplyOutcome } from '../servers/apply-script.js';
import { stepConfirmationNeed } from './confirm-plan.js';
import type { NodeStep } from './types.js';

export interface ConfirmAsDoneOptions {
  steps: readonly NodeStep[];
  versions: TlsVersion[];
  expectedKeyId: string;
  server: ServerKind;
  /** Per node, after it was asked as often as it needs. */
  deadlineMs: number;
  /** Handshakes in flight at once, over every node being confirmed. */
  concurrency: number;
  prober: Prober | undefined;
  /** Called with each node whose confirmation succeeded, and the tickets it took. */
  onConfirmed?: (node: string, tickets: KeyConfirmation['tickets']) => void;
}

/** Confirmations that start node by node, as each node's transaction returns. */
export interface ConfirmAsDone {
  /** Hand each node's outcome here as its transaction returns (applyPhase's onNodeDone). */
  nodeDone(node: NodeSpec, outcome: ApplyOutcome, finishedAt: number): void;
  /** Every node's confirmation, once the phase's transactions all succeeded. */
  finish(): Promise<KeyConfirmation>;
  /** Stops the confirmations under way (the phase failed) and waits for them to end. */
  abandon(): Promise<void>;
  /** The confirmations' prober: handshakes made through it share their limit. */
  prober: Prober;
  /** Whether no handshake waits for a slot of that limit. */
  idle(): boolean;
}

/**
 * A node's confirmation needs only its own reload: it starts as soon as its transaction returns
 * and runs while the other nodes' transactions still do, instead of after the whole phase. The
 * next phase still waits for every node. Each node's confirmation is confirmKeyEverywhere's for
 * that node alone, with its deadline counted from when the node was asked.
 */
export function startConfirmAsDone(opts: ConfirmAsDoneOptions): ConfirmAsDone {
  const steps = new Map(opts.steps.map((s) => [s.node, s]));
  const base = opts.prober ?? directProber;
  const limit = pLimit(opts.concurrency);
  // Each node's confirmation bounds itself; the limit bounds them all together.
  const prober: Prober = {
    takeTicket: (target, version, o) => limit(() => base.takeTicket(target, version, o)),
    offerTicket: (target, version, sample, o) =>
      limit(() => base.offerTicket(target, version, sample, o)),
  };
  const stop = new AbortController();
  // Every node's confirmation listens on it: a pool of more than ten nodes is expected, and
  // Node's warning about a listener leak would reach the operator's terminal.
  setMaxListeners(0, stop.signal);
  const running = new Map<NodeSpec, Promise<KeyConfirmation>>();
  return {
    prober,
    idle: () => limit.pendingCount === 0,
    nodeDone(node, outcome, finishedAt) {
      const step = steps.get(node);
      if (!step || !outcome.ok || stop.signal.aborted) return;
      const need = stepConfirmationNeed(step, outcome, finishedAt, opts.server);
      const confirmation = confirmKeyEverywhere(
        [toProbeTarget(node)],
        opts.versions,
        opts.expectedKeyId,
        opts.deadlineMs,
        {
          confirmations: need.confirmations,
          ...(need.reloadedAt === undefined
            ? {}
            : { reloadedAt: new Map([[node.name, need.reloadedAt]]) }),
          concurrency: opts.versions.length,
          prober,
          signal: stop.signal,
        },
      );
      // Awaited by finish() or abandon(); until then a failure must not count as unhandled.
      confirmation.then(
        (c) => {
          if (c.ok) opts.onConfirmed?.(node.name, c.tickets);
        },
        () => undefined,
      );
      running.set(node, confirmation);
    },
    async finish() {
      const order = opts.steps.map((s) => s.node);
      const missing = order.filter((n) => !running.has(n));
      // Every step succeeded before finish() is called; a node without a confirmation here
      // would be a bug, and must not pass as confirmed.
      if (missing.length > 0) {
        throw new Error(`no confirmation started for ${missing.map((n) => n.name).join(', ')}`);
      }
      const parts = await Promise.all(order.map((n) => running.get(n) as Promise<KeyConfirmation>));
      // In the order confirmKeyEverywhere gives for the whole pool: by version, then node.
      const nodes = opts.versions.flatMap((v) =>
        parts.flatMap((p) => p.nodes.filter((n) => n.version === v)),
      );
      const tickets = opts.versions.flatMap((v) =>
        parts.flatMap((p) => p.tickets.filter((t) => t.version === v)),
      );
      return { ok: parts.every((p) => p.ok), nodes, tickets };
    },
    async abandon() {
      stop.abort();
      await Promise.allSettled(running.values());
    },
  };
}
