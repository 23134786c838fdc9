import type { TlsVersion } from '../inventory/types.js';
import { createRandomRng, createSeededRng, planProbes } from './probe-plan.js';
import type { OfferReport, ProbeFailure } from './report-types.js';
import { createDeadline, runBounded, type TaskOutcome } from './run-bounded.js';
import type { ResumeResult, TicketSample } from './tls-probe.js';
import type { ProbeTarget } from './probe-target.js';
import { describeFailure, directProber, type Prober } from './verify-pool.js';

export interface RotationCheckOptions {
  /** Connections open at once; default 8. */
  concurrency?: number;
  /** Bound on the whole check; default: four times the largest target timeout. */
  deadlineMs?: number;
  /** Above this many targets each ticket goes to its own node and one other; default: all. */
  matrixMax?: number;
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
}

const defaultConcurrency = 8;

function defaultDeadline(targets: ProbeTarget[]): number {
  return 4 * Math.max(1000, ...targets.map((t) => t.timeoutMs));
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
  const deadline = createDeadline(opts.deadlineMs ?? defaultDeadline(targets), opts.signal);
  try {
    const jobs = versions.flatMap((version) => targets.map((target) => ({ version, target })));
    const outcomes = await runBounded(
      jobs.map(
        ({ version, target }) =>
          (signal) =>
            prober.takeTicket(target, version, { signal }),
      ),
      opts.concurrency ?? defaultConcurrency,
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

async function offerAll(
  samples: TicketSample[],
  targets: ProbeTarget[],
  opts: RotationCheckOptions,
): Promise<{ offers: OfferReport[]; samples: (TicketSample | undefined)[] }> {
  const names = targets.map((t) => t.node);
  const byName = new Map(targets.map((t) => [t.node, t]));
  const rng = opts.seed === undefined ? createRandomRng() : createSeededRng(opts.seed);
  const versions = [...new Set(samples.map((s) => s.version))];
  const jobs: { base: OfferReport; sample: TicketSample; target: ProbeTarget }[] = [];
  for (const version of versions) {
    const plan = planProbes(names, opts.matrixMax ?? Number.POSITIVE_INFINITY, rng);
    for (const { from, to } of plan) {
      const sample = samples.find((s) => s.version === version && s.node === from);
      // A ticket names its key: a sample without a key id holds no ticket to offer.
      if (sample?.keyId === undefined) continue;
      const base: OfferReport = { from, to, version, reused: false };
      if (sample.keyId !== undefined) base.offeredKeyId = sample.keyId;
      jobs.push({ base, sample, target: byName.get(to) as ProbeTarget });
    }
  }
  const prober = opts.prober ?? directProber;
  const deadline = createDeadline(opts.deadlineMs ?? defaultDeadline(targets), opts.signal);
  try {
    const outcomes = await runBounded(
      jobs.map(
        (j) => (signal) => prober.offerTicket(j.target, j.base.version, j.sample, { signal }),
      ),
      opts.concurrency ?? defaultConcurrency,
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
 * Offers tickets taken earlier (e.g. before a promotion) to every node (or, above `matrixMax`,
 * to their own node and one other) and expects every one to resume. Samples without a ticket
 * are problems too: nothing was proven for them.
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
 * After a key is retired, tickets under it must resume nowhere. Offers every sample to every
 * node (or the plan above `matrixMax`); a node that cannot be reached proves nothing and is a
 * problem as well.
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

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Confirms a reload by what the servers do: takes fresh tickets, round after round, until every
 * node issues `confirmations` tickets in a row under `expectedKeyId` or the deadline passes.
 * The default of 2 guards against the old generation that still answers just after a reload
 * (nginx's old workers, Apache's old children after a graceful restart).
 */
export async function confirmKeyEverywhere(
  targets: ProbeTarget[],
  versions: TlsVersion[],
  expectedKeyId: string,
  deadlineMs: number,
  opts: {
    intervalMs?: number;
    concurrency?: number;
    confirmations?: number;
    signal?: AbortSignal;
    /** Where the handshakes run; default directProber. */
    prober?: Prober;
  } = {},
): Promise<KeyConfirmation> {
  const prober = opts.prober ?? directProber;
  const needed = Math.max(1, opts.confirmations ?? 2);
  const states = versions.flatMap((version) =>
    targets.map((target) => ({
      target,
      version,
      keyId: undefined as string | undefined,
      streak: 0,
      attempts: 0,
      error: undefined as ProbeFailure | undefined,
    })),
  );
  // The clock starts once every node was asked `confirmations` times: a large pool takes longer
  // than the deadline just to ask each node (N x versions handshakes, `concurrency` at a time),
  // and cutting that short would blame nodes that were never asked. Those first rounds are
  // bounded by each probe's own timeout.
  const asking = createDeadline(2 ** 31 - 1, opts.signal);
  let deadline = asking;
  let rounds = 0;
  try {
    let pending = states;
    while (pending.length > 0 && !deadline.signal.aborted) {
      if (rounds === needed) deadline = createDeadline(deadlineMs, opts.signal);
      rounds += 1;
      const round = pending;
      const outcomes = await runBounded(
        round.map((s) => (signal) => prober.takeTicket(s.target, s.version, { signal })),
        opts.concurrency ?? defaultConcurrency,
        deadline.signal,
      );
      round.forEach((s, i) => {
        const outcome = outcomes[i] as TaskOutcome<TicketSample>;
        if (outcome.status === 'timed-out' && deadline.signal.aborted && s.attempts > 0) return;
        s.attempts += 1;
        s.error = describeOutcome(outcome, s.target.node);
        if (outcome.status === 'done') s.keyId = outcome.value.keyId;
        s.streak = outcome.status === 'done' && s.keyId === expectedKeyId ? s.streak + 1 : 0;
      });
      pending = states.filter((s) => s.streak < needed);
      if (pending.length > 0) await pause(opts.intervalMs ?? 250, deadline.signal);
    }
  } finally {
    asking.dispose();
    deadline.dispose();
  }
  const nodes = states.map((s) => {
    const entry: KeyConfirmation['nodes'][number] = {
      node: s.target.node,
      version: s.version,
      keyId: s.keyId,
      confirmed: s.streak >= needed,
      attempts: s.attempts,
    };
    if (s.error) entry.error = s.error;
    return entry;
  });
  return { ok: nodes.every((n) => n.confirmed), nodes };
}
