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

export interface EarlyChecksOptions {
  targets: readonly ProbeTarget[];
  versions: readonly TlsVersion[];
  /** The pool's probe.matrixMax, as the verification will use it. */
  matrixMax: number;
  /** The tickets from before the promotion that the check after it will offer again. */
  before: readonly TicketSample[];
  /** Where the handshakes run: the confirmations' prober, so that one limit bounds them all. */
  prober: Prober;
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
  /** The nodes whose confirmation the offer waits for. */
  needs: string[];
  started: boolean;
}

export function startEarlyChecks(opts: EarlyChecksOptions): EarlyChecks {
  const seeds = { verify: randomInt(2 ** 31), tickets: randomInt(2 ** 31) };
  const names = opts.targets.map((t) => t.node);
  const byName = new Map(opts.targets.map((t) => [t.node, t]));
  const confirmed = new Set<string>();
  const fresh = new Map<string, TicketSample>();
  const waiting = new Map<string, Job[]>();
  const wait = (node: string, job: Job): void => {
    const list = waiting.get(node);
    if (list) list.push(job);
    else waiting.set(node, [job]);
  };
  for (const o of planPoolOffers(
    names,
    opts.versions,
    opts.matrixMax,
    createSeededRng(seeds.verify),
  )) {
    const needs = o.from === o.to ? [o.to] : [o.from, o.to];
    const job: Job = { ...o, sample: undefined, needs, started: false };
    for (const node of needs) wait(node, job);
  }
  for (const o of planTicketOffers(opts.before, names, createSeededRng(seeds.tickets))) {
    wait(o.to, { ...o, needs: [o.to], started: false });
  }

  const stop = new AbortController();
  // Every offer under way listens on it, one per node and version or more.
  setMaxListeners(0, stop.signal);
  const made = new Map<TicketSample, Map<string, Promise<ResumeResult>>>();
  const keyOf = (to: string, version: TlsVersion): string => `${version} ${to}`;
  const start = (job: Job): void => {
    const sample = job.sample ?? fresh.get(keyOf(job.from, job.version));
    const target = byName.get(job.to);
    // The check offers only tickets that name a key; it will report the others itself.
    if (!sample || sample.keyId === undefined || !target) return;
    job.started = true;
    const outcome = opts.prober.offerTicket(target, job.version, sample, { signal: stop.signal });
    // Awaited by the check, or by abandon(); until then a failure must not count as unhandled.
    outcome.catch(() => undefined);
    const bySample = made.get(sample) ?? new Map<string, Promise<ResumeResult>>();
    bySample.set(keyOf(job.to, job.version), outcome);
    made.set(sample, bySample);
  };

  return {
    seeds,
    nodeConfirmed(node, tickets) {
      if (stop.signal.aborted || confirmed.has(node)) return;
      confirmed.add(node);
      for (const t of tickets) fresh.set(keyOf(node, t.version), t);
      for (const job of waiting.get(node) ?? []) {
        if (!job.started && job.needs.every((n) => confirmed.has(n))) start(job);
      }
      waiting.delete(node);
    },
    proberFor(base) {
      return {
        takeTicket: (target, version, o) => base.takeTicket(target, version, o),
        offerTicket: (target, version, sample, o) => {
          const bySample = made.get(sample);
          const key = keyOf(target.node, version);
          const outcome = bySample?.get(key);
          if (!outcome) return base.offerTicket(target, version, sample, o);
          bySample?.delete(key);
          return outcome;
        },
      };
    },
    async abandon() {
      stop.abort();
      await Promise.allSettled([...made.values()].flatMap((m) => [...m.values()]));
      made.clear();
    },
  };
}
