import type { TlsVersion } from '../inventory/types.js';
import { createRandomRng, createSeededRng, planKeyCoverage, type Rng } from './probe-plan.js';
import type { OfferReport, ProbeFailure } from './report-types.js';
import { createDeadline, runBounded, scaleDeadline, type TaskOutcome } from './run-bounded.js';
import type { ResumeResult, TicketSample } from './tls-probe.js';
import type { ProbeTarget } from './probe-target.js';
import { describeFailure, directProber, type Prober } from './verify-pool.js';

export interface RotationCheckOptions {
  /** Connections open at once; default 8. */
  concurrency?: number;
  /**
   * Bound on the whole check; default: four times the largest target timeout, plus one for
   * every further wave of `concurrency` probes.
   */
  deadlineMs?: number;
  seed?: number;
  signal?: AbortSignal;
  /**
   * Where the handshakes run; default directProber. Tickets must be offered through the prober
   * that took them: over SSH the session stays on the probing node and the sample is its handle.
   */
  prober?: Prober;
}

/**
 * Tickets held in memory between rotation steps, for the prober that took them. Never
 * serialise: samples hold sessions (or are the handles of sessions the prober keeps).
 */
export interface TicketSet {
  samples: TicketSample[];
  failures: { node: string; version: TlsVersion; failure: ProbeFailure }[];
}

/** The outcome of offering earlier tickets across the pool. */
export interface TicketCheck {
  ok: boolean;
  offers: OfferReport[];
  /** One sentence per offer that went against the expectation. */
  problems: string[];
}

const defaultConcurrency = 8;

/**
 * Four probe timeouts when every job fits in one wave of `concurrency`; a larger batch gets one
 * more timeout per further wave (see scaleDeadline), so that a large pool does not run out of
 * time merely for being large.
 */
function defaultDeadline(targets: ProbeTarget[], jobs: number, concurrency: number): number {
  const timeout = Math.max(1000, ...targets.map((t) => t.timeoutMs));
  return scaleDeadline(4 * timeout, jobs, concurrency, timeout);
}

function describeOutcome(outcome: TaskOutcome<unknown>, what: string): ProbeFailure | undefined {
  if (outcome.status === 'done') return undefined;
  if (outcome.status === 'failed') return describeFailure(outcome.error);
  return { code: 'timeout', message: `${what}: not finished before the check's deadline` };
}

/** One full handshake per node and version; the tickets stay in memory for later checks. */
export async function takeTickets(
  targets: ProbeTarget[],
  versions: TlsVersion[],
  opts: RotationCheckOptions = {},
): Promise<TicketSet> {
  const prober = opts.prober ?? directProber;
  const concurrency = opts.concurrency ?? defaultConcurrency;
  const jobs = versions.flatMap((version) => targets.map((target) => ({ version, target })));
  const deadline = createDeadline(
    opts.deadlineMs ?? defaultDeadline(targets, jobs.length, concurrency),
    opts.signal,
  );
  try {
    const outcomes = await runBounded(
      jobs.map(
        ({ version, target }) =>
          (signal) =>
            prober.takeTicket(target, version, { signal }),
      ),
      concurrency,
      deadline.signal,
    );
    const set: TicketSet = { samples: [], failures: [] };
    jobs.forEach(({ version, target }, i) => {
      const outcome = outcomes[i] as TaskOutcome<TicketSample>;
      if (outcome.status === 'done') set.samples.push(outcome.value);
      else {
        const failure = describeOutcome(outcome, target.node) as ProbeFailure;
        set.failures.push({ node: target.node, version, failure });
      }
    });
    return set;
  } finally {
    deadline.dispose();
  }
}

function ageNote(sample: TicketSample): string {
  const hint = sample.ticketLifetimeHint;
  if (hint === undefined || Date.now() - sample.takenAt <= hint * 1000) return '';
  return ` (the ticket is older than its lifetime hint of ${hint} s)`;
}

/** One earlier ticket to offer to a node. */
export interface TicketOffer {
  from: string;
  to: string;
  version: TlsVersion;
  keyId: string;
  sample: TicketSample;
}

/**
 * Where checkTicketsResume and checkTicketsRejected offer `samples` (planKeyCoverage, version
 * after version): the same generator state gives the same list, so that offers made ahead of a
 * check (see early-checks.ts) are the very ones it asks for.
 */
export function planTicketOffers(
  samples: readonly TicketSample[],
  receivers: readonly string[],
  rng: Rng,
): TicketOffer[] {
  const known = new Set(receivers);
  const versions = [...new Set(samples.map((s) => s.version))];
  const offers: TicketOffer[] = [];
  for (const version of versions) {
    // A ticket names its key: a sample without a key id holds no ticket to offer.
    const held = samples.filter(
      (s): s is TicketSample & { keyId: string } =>
        s.version === version && s.keyId !== undefined && known.has(s.node),
    );
    const issuers = new Map<string, string[]>();
    for (const s of held) issuers.set(s.keyId, [...(issuers.get(s.keyId) ?? []), s.node]);
    for (const { from, to, keyId } of planKeyCoverage(issuers, receivers, rng)) {
      const sample = held.find((s) => s.node === from && s.keyId === keyId) as TicketSample;
      offers.push({ from, to, version, keyId, sample });
    }
  }
  return offers;
}

async function offerAll(
  samples: TicketSample[],
  targets: ProbeTarget[],
  opts: RotationCheckOptions,
): Promise<{ offers: OfferReport[]; samples: (TicketSample | undefined)[] }> {
  const byName = new Map(targets.map((t) => [t.node, t]));
  const rng = opts.seed === undefined ? createRandomRng() : createSeededRng(opts.seed);
  const jobs = planTicketOffers(
    samples,
    targets.map((t) => t.node),
    rng,
  ).map(({ from, to, version, keyId, sample }) => ({
    base: { from, to, version, reused: false, offeredKeyId: keyId } as OfferReport,
    sample,
    target: byName.get(to) as ProbeTarget,
  }));
  const prober = opts.prober ?? directProber;
  const concurrency = opts.concurrency ?? defaultConcurrency;
  const deadline = createDeadline(
    opts.deadlineMs ?? defaultDeadline(targets, jobs.length, concurrency),
    opts.signal,
  );
  try {
    const outcomes = await runBounded(
      jobs.map(
        (j) => (signal) => prober.offerTicket(j.target, j.base.version, j.sample, { signal }),
      ),
      concurrency,
      deadline.signal,
    );
    const offers = jobs.map((j, i): OfferReport => {
      const outcome = outcomes[i] as TaskOutcome<ResumeResult>;
      const error = describeOutcome(outcome, `${j.base.to}: offering ${j.base.from}'s ticket`);
      if (error || outcome.status !== 'done') return { ...j.base, error: error as ProbeFailure };
      const report: OfferReport = { ...j.base, reused: outcome.value.reused };
      if (outcome.value.keyId !== undefined) report.issuedKeyId = outcome.value.keyId;
      return report;
    });
    return { offers, samples: jobs.map((j) => j.sample) };
  } finally {
    deadline.dispose();
  }
}

/**
 * Offers tickets taken earlier (e.g. before a promotion) so that every node receives one under
 * each key they were issued under (see planKeyCoverage), and expects every one to resume.
 * Samples without a ticket are problems too: nothing was proven for them.
 */
export async function checkTicketsResume(
  samples: TicketSample[],
  targets: ProbeTarget[],
  opts: RotationCheckOptions = {},
): Promise<TicketCheck> {
  const { offers, samples: offered } = await offerAll(samples, targets, opts);
  const problems = samples
    .filter((s) => s.keyId === undefined)
    .map((s) => `${s.node} had no ${s.version} ticket to check`);
  offers.forEach((o, i) => {
    if (o.reused) return;
    const note = ageNote(offered[i] as TicketSample);
    problems.push(
      o.error
        ? `${o.version}: ${o.from}'s ticket could not be offered to ${o.to}: ${o.error.message}`
        : `${o.version}: ${o.to} no longer resumes ${o.from}'s ticket under key ${o.offeredKeyId ?? 'unknown'}${note}`,
    );
  });
  return { ok: problems.length === 0 && offers.length > 0, offers, problems };
}

/**
 * After a key is retired, tickets under it must resume nowhere: every node receives one under
 * each key (see planKeyCoverage); a node that cannot be reached proves nothing and is a problem
 * as well.
 */
export async function checkTicketsRejected(
  samples: TicketSample[],
  targets: ProbeTarget[],
  opts: RotationCheckOptions = {},
): Promise<TicketCheck> {
  const { offers } = await offerAll(samples, targets, opts);
  const problems: string[] = [];
  for (const o of offers) {
    if (o.error) {
      problems.push(
        `${o.version}: could not check ${o.from}'s ticket at ${o.to}: ${o.error.message}`,
      );
    } else if (o.reused) {
      problems.push(
        `${o.version}: ${o.to} still resumes ${o.from}'s ticket under retired key ${o.offeredKeyId ?? 'unknown'}`,
      );
    }
  }
  return { ok: problems.length === 0, offers, problems };
}

export { confirmKeyEverywhere, type ConfirmOptions, type KeyConfirmation } from './confirm-key.js';
