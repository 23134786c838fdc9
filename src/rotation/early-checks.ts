import { randomInt } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { TlsVersion } from '../inventory/types.js';
import {
  createSeededRng,
  planPoolOffers,
  planTicketOffers,
  type Prober,
  type ProbeTarget,
  type ResumeResult,
  type TicketSample,
} from '../probe/index.js';

/**
 * Pools up to this size check early. Early checks keep every offer's outcome, and the state of
 * the offers under way, beside the promotion's own; on 10,000 simulated nodes (two cores, one
 * run each) they saved 6% of the run (80.4 -> 75.9 s) and cost 6% more peak memory (503 ->
 * 532 MB), because a pool that large keeps the cores busy through the phase anyway. On 1,000
 * nodes at concurrency 32 they saved 2.3 s of 33 (docs/benchmarks.md).
 */
export const earlyChecksMaxNodes = 2000;

export interface EarlyChecksOptions {
  targets: readonly ProbeTarget[];
  versions: readonly TlsVersion[];
  /** The pool's probe.matrixMax, as the verification will use it. */
  matrixMax: number;
  /** The tickets from before the promotion that the check after it will offer again. */
  before: readonly TicketSample[];
  /** Where the handshakes run: the confirmations' prober, so that one limit bounds them all. */
  prober: Prober;
  /** Offers handed to the prober at once; the prober's own limit still applies. */
  inFlight: number;
  /**
   * Whether an offer may start now. The confirmations go first: they hold up the next phase,
   * and on a loaded machine the offers would only add to what is in memory at once.
   */
  mayStart?: () => boolean;
}

/**
 * The offers of the checks after a promotion, made while the promotion still runs on other
 * nodes. An offer's outcome depends only on the two nodes it involves, and neither changes again
 * in the phase once its own reload is confirmed: so each offer starts as soon as its receiver
 * (and, for the verification, its issuer, whose fresh ticket it is) is confirmed, instead of
 * after the last node. The checks themselves run afterwards as before, with the same plans (the
 * seeds), and take these outcomes instead of making the handshakes again (proberFor).
 */
export interface EarlyChecks {
  /** For probePool (`verify`) and checkTicketsResume (`tickets`). */
  seeds: { verify: number; tickets: number };
  /** `node` is confirmed, with the tickets its confirmation took (one per version). */
  nodeConfirmed(node: string, fresh: readonly TicketSample[]): void;
  /** Hands out each offer started here once, to the same call; any other call goes to `base`. */
  proberFor(base: Prober): Prober;
  /** Stops the offers under way and waits for them to end. */
  abandon(): Promise<void>;
}

interface Job {
  version: TlsVersion;
  to: string;
  /** Fixed for a ticket from before the phase; the issuer's fresh ticket for the verification. */
  sample: TicketSample | undefined;
  from: string;
  state: 'waiting' | 'ready' | 'started' | 'taken';
  outcome?: Promise<ResumeResult>;
}

export function startEarlyChecks(opts: EarlyChecksOptions): EarlyChecks {
  const seeds = { verify: randomInt(2 ** 31), tickets: randomInt(2 ** 31) };
  const names = opts.targets.map((t) => t.node);
  const byName = new Map(opts.targets.map((t) => [t.node, t]));
  const confirmed = new Set<string>();
  const fresh = new Map<string, TicketSample>();
  const keyOf = (node: string, version: TlsVersion): string => `${version} ${node}`;
  // Jobs by the node they wait for, and by the receiver and version the checks will ask for.
  const waiting = new Map<string, Job[]>();
  const asked = new Map<string, Job[]>();
  const add = (map: Map<string, Job[]>, key: string, job: Job): void => {
    const list = map.get(key);
    if (list) list.push(job);
    else map.set(key, [job]);
  };
  // An offer waits for its receiver's confirmation, and for its issuer's when the ticket is the
  // one that confirmation takes.
  const needsIssuer = (job: Job): boolean => job.sample === undefined && job.from !== job.to;
  const plan = (job: Job): void => {
    add(waiting, job.to, job);
    if (needsIssuer(job)) add(waiting, job.from, job);
    add(asked, keyOf(job.to, job.version), job);
  };
  const verifyRng = createSeededRng(seeds.verify);
  for (const o of planPoolOffers(names, opts.versions, opts.matrixMax, verifyRng)) {
    plan({ ...o, sample: undefined, state: 'waiting' });
  }
  for (const o of planTicketOffers(opts.before, names, createSeededRng(seeds.tickets))) {
    plan({ ...o, state: 'waiting' });
  }

  const stop = new AbortController();
  // Every offer under way listens on it.
  setMaxListeners(0, stop.signal);
  // Ready offers are handed to the prober a few at a time: queued in its limit, thousands of
  // them would each hold a pending call (closures, a promise) while the confirmations run.
  const ready: Job[] = [];
  let next = 0;
  let active = 0;
  const sampleOf = (job: Job): TicketSample | undefined =>
    job.sample ?? fresh.get(keyOf(job.from, job.version));
  const pump = (): void => {
    const may = opts.mayStart ?? ((): boolean => true);
    while (active < opts.inFlight && next < ready.length && !stop.signal.aborted && may()) {
      const job = ready[next++] as Job;
      const sample = sampleOf(job);
      const target = byName.get(job.to);
      // The checks offer only tickets that name a key; they report the others themselves.
      if (job.state !== 'ready' || !sample || sample.keyId === undefined || !target) continue;
      job.state = 'started';
      active += 1;
      job.outcome = opts.prober.offerTicket(target, job.version, sample, { signal: stop.signal });
      job.outcome
        .catch(() => undefined)
        .finally(() => {
          active -= 1;
          pump();
        });
    }
    if (next === ready.length) {
      ready.length = 0;
      next = 0;
    }
  };

  return {
    seeds,
    nodeConfirmed(node, tickets) {
      if (stop.signal.aborted || confirmed.has(node)) return;
      confirmed.add(node);
      for (const t of tickets) fresh.set(keyOf(node, t.version), t);
      for (const job of waiting.get(node) ?? []) {
        const met = confirmed.has(job.to) && (!needsIssuer(job) || confirmed.has(job.from));
        if (job.state === 'waiting' && met) {
          job.state = 'ready';
          ready.push(job);
        }
      }
      waiting.delete(node);
      pump();
    },
    proberFor(base) {
      return {
        takeTicket: (target, version, o) => base.takeTicket(target, version, o),
        offerTicket: (target, version, sample, o) => {
          const list = asked.get(keyOf(target.node, version));
          const job = list?.find((j) => j.state !== 'taken' && sampleOf(j) === sample);
          if (!job || !list) return base.offerTicket(target, version, sample, o);
          list.splice(list.indexOf(job), 1);
          const outcome = job.state === 'started' ? job.outcome : undefined;
          job.state = 'taken';
          return outcome ?? base.offerTicket(target, version, sample, o);
        },
      };
    },
    async abandon() {
      stop.abort();
      const started = [...asked.values()].flat().filter((j) => j.state === 'started');
      await Promise.allSettled(started.map((j) => j.outcome));
      asked.clear();
      waiting.clear();
    },
  };
}
