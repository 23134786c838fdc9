import type { TlsVersion } from '../inventory/types.js';
import { OperationError } from '../errors.js';
import { diagnose } from './diagnose.js';
import { ProbeError } from './probe-error.js';
import { createRandomRng, createSeededRng, planPoolOffers } from './probe-plan.js';
import type {
  DiagnosticCode,
  NodeTicketReport,
  OfferReport,
  PoolProbeReport,
  ProbeFailure,
  VersionReport,
} from './report-types.js';
import { createDeadline, runBounded, scaleDeadline, type TaskOutcome } from './run-bounded.js';
import {
  offerTicket,
  takeTicket,
  type ProbeCallOptions,
  type ResumeResult,
  type TicketSample,
} from './tls-probe.js';
import type { ProbeTarget } from './probe-target.js';

/**
 * How tickets are taken and offered. The default connects from this machine; another prober
 * may run the handshakes elsewhere (see ssh-probe.ts) and keep the sessions there, in which
 * case its samples carry no `session` and only it can offer them.
 */
export interface Prober {
  takeTicket(
    target: ProbeTarget,
    version: TlsVersion,
    options: ProbeCallOptions,
  ): Promise<TicketSample>;
  offerTicket(
    target: ProbeTarget,
    version: TlsVersion,
    sample: TicketSample,
    options: ProbeCallOptions,
  ): Promise<ResumeResult>;
}

/** Handshakes from this machine with node:tls. */
export const directProber: Prober = { takeTicket, offerTicket };

export interface PoolProbeOptions {
  versions: TlsVersion[];
  /** Pools up to this many nodes are probed N x N; larger ones with 2N probes. */
  matrixMax: number;
  /** Connections open at once. */
  concurrency: number;
  /**
   * Bound on a verification whose handshakes fit in one wave of `concurrency`; what is
   * unfinished by then is reported as timed out. Each further wave adds one probe timeout (see
   * scaleDeadline): a pool larger than `concurrency` needs more time, not a timeout.
   */
  deadlineMs: number;
  /**
   * Tickets taken from these targets moments ago by the pool's current generation, such as the
   * last round of a reload confirmation: each stands in for the full handshake of its node and
   * version. They must come from the same prober (over SSH a sample is the prober's handle).
   */
  tickets?: readonly TicketSample[];
  /** Key ids the pool's ring holds, if known. */
  ringKeyIds?: string[];
  /** The key every node must encrypt with, if known. */
  expectedKeyId?: string;
  /** Makes the probe plan reproducible. */
  seed?: number;
  /** Ends the verification early, as if the deadline had passed. */
  signal?: AbortSignal;
  /** Where the handshakes run; default directProber. */
  prober?: Prober;
}

/** How a probe failure reads in a report. */
export function describeFailure(error: unknown): ProbeFailure {
  if (error instanceof ProbeError) {
    const code: DiagnosticCode = error.code === 'no-ticket' ? 'no-tickets' : error.code;
    const failure: ProbeFailure = { code, message: error.message };
    if (error.detail !== error.message) failure.detail = error.detail;
    if (error.hint !== undefined) failure.hint = error.hint;
    return failure;
  }
  return { code: 'tls-error', message: error instanceof Error ? error.message : String(error) };
}

function timedOut(what: string, budget: string): ProbeFailure {
  return { code: 'timeout', message: `${what}: not finished within ${budget}` };
}

function toTicketReport(
  node: string,
  outcome: TaskOutcome<TicketSample>,
  deadlineMs: number,
): NodeTicketReport {
  if (outcome.status === 'timed-out') {
    const budget = `the time for taking tickets (${Math.round(deadlineMs)} ms)`;
    return { node, issued: false, error: timedOut(`${node}: full handshake`, budget) };
  }
  if (outcome.status === 'failed')
    return { node, issued: false, error: describeFailure(outcome.error) };
  const s = outcome.value;
  const report: NodeTicketReport = { node, issued: s.keyId !== undefined };
  if (s.keyId !== undefined) report.keyId = s.keyId;
  if (s.certFingerprint) report.certFingerprint = s.certFingerprint;
  if (s.ticketLifetimeHint !== undefined) report.ticketLifetimeHint = s.ticketLifetimeHint;
  if (s.stateful) report.stateful = true;
  return report;
}

function toOfferReport(
  base: OfferReport,
  outcome: TaskOutcome<ResumeResult>,
  deadlineMs: number,
): OfferReport {
  if (outcome.status === 'timed-out') {
    const budget = `the pool's deadline (${deadlineMs} ms)`;
    return { ...base, error: timedOut(`${base.to}: offering ${base.from}'s ticket`, budget) };
  }
  if (outcome.status === 'failed') return { ...base, error: describeFailure(outcome.error) };
  const r = outcome.value;
  const report: OfferReport = { ...base, reused: r.reused };
  if (r.keyId !== undefined) report.issuedKeyId = r.keyId;
  return report;
}

/**
 * Proves that every node of a pool resumes the tickets of the others: one full handshake per
 * node and version to take a ticket, then the tickets offered across the pool (N x N up to
 * `matrixMax` nodes, 2N otherwise; see planProbes). A ticket in `tickets` replaces its node's
 * full handshake. Never throws for what a node does; every failure is in the report. Bounded by
 * `deadlineMs` (scaled with the waves of handshakes) overall and each target's timeout.
 */
export async function probePool(
  pool: string,
  targets: ProbeTarget[],
  opts: PoolProbeOptions,
): Promise<PoolProbeReport> {
  const names = targets.map((t) => t.node);
  if (new Set(names).size !== names.length) {
    throw new OperationError(`pool ${pool}: two probe targets share a node name`);
  }
  const started = Date.now();
  const given = new Map((opts.tickets ?? []).map((s) => [`${s.version} ${s.node}`, s]));
  const takeJobs = opts.versions
    .flatMap((version) => targets.map((target) => ({ version, target })))
    .filter(({ version, target }) => !given.has(`${version} ${target.node}`));
  const pairs = names.length <= opts.matrixMax ? names.length ** 2 : 2 * names.length;
  const timeout = Math.max(1000, ...targets.map((t) => t.timeoutMs));
  const takeMs = scaleDeadline(opts.deadlineMs / 2, takeJobs.length, opts.concurrency, timeout);
  const offerMs = scaleDeadline(
    opts.deadlineMs / 2,
    pairs * opts.versions.length,
    opts.concurrency,
    timeout,
  );
  const deadline = createDeadline(takeMs + offerMs, opts.signal);
  const byName = new Map(targets.map((t) => [t.node, t]));
  const rng = opts.seed === undefined ? createRandomRng() : createSeededRng(opts.seed);
  const prober = opts.prober ?? directProber;

  try {
    // Half the time at most for taking tickets, so that a hanging node cannot starve the offers.
    const takeDeadline = createDeadline(takeMs, deadline.signal);
    const takeOutcomes = await runBounded(
      takeJobs.map(
        ({ version, target }) =>
          (signal) =>
            prober.takeTicket(target, version, { signal }),
      ),
      opts.concurrency,
      takeDeadline.signal,
    ).finally(() => takeDeadline.dispose());
    const taken = new Map(
      takeJobs.map(({ version, target }, i) => [
        `${version} ${target.node}`,
        takeOutcomes[i] as TaskOutcome<TicketSample>,
      ]),
    );
    const samples = new Map<string, TicketSample>();
    const versions: VersionReport[] = opts.versions.map((version) => ({ version, nodes: [] }));
    for (const v of versions) {
      for (const target of targets) {
        const key = `${v.version} ${target.node}`;
        const reused = given.get(key);
        const outcome: TaskOutcome<TicketSample> = reused
          ? { status: 'done', value: reused }
          : (taken.get(key) as TaskOutcome<TicketSample>);
        if (outcome.status === 'done') samples.set(key, outcome.value);
        v.nodes.push(toTicketReport(target.node, outcome, takeMs));
      }
    }

    const offerJobs: { base: OfferReport; run?: (signal: AbortSignal) => Promise<ResumeResult> }[] =
      [];
    const takesOf = new Map(
      versions.map((v) => [v.version, new Map(v.nodes.map((t) => [t.node, t]))]),
    );
    for (const { version, from, to } of planPoolOffers(names, opts.versions, opts.matrixMax, rng)) {
      const takes = takesOf.get(version);
      const sample = samples.get(`${version} ${from}`);
      const base: OfferReport = { from, to, version, reused: false };
      if (sample?.keyId !== undefined) base.offeredKeyId = sample.keyId;
      const fromTake = takes?.get(from);
      const toTake = takes?.get(to);
      const target = byName.get(to) as ProbeTarget;
      // A ticket names its key; a sample without a key id holds nothing to offer.
      if (sample?.keyId === undefined) {
        const why = fromTake?.error ?? {
          code: 'no-tickets' as const,
          message: `${from} issued no ${version} ticket to offer`,
        };
        offerJobs.push({ base: { ...base, skipped: true, error: why } });
      } else if (toTake?.error) {
        offerJobs.push({ base: { ...base, skipped: true, error: toTake.error } });
      } else {
        offerJobs.push({
          base,
          run: (signal) => prober.offerTicket(target, version, sample, { signal }),
        });
      }
    }
    const runnable = offerJobs.filter((j) => j.run !== undefined);
    const offerOutcomes = await runBounded(
      runnable.map((j) => j.run as (signal: AbortSignal) => Promise<ResumeResult>),
      opts.concurrency,
      deadline.signal,
    );
    const outcomeOf = new Map(
      runnable.map((j, i) => [j, offerOutcomes[i] as TaskOutcome<ResumeResult>]),
    );
    const rawOffers = offerJobs.map((j) => {
      const outcome = outcomeOf.get(j);
      return outcome ? toOfferReport(j.base, outcome, takeMs + offerMs) : j.base;
    });

    const { offers, nodes, diagnostics } = diagnose({
      nodes: names,
      versions,
      offers: rawOffers,
      ringKeyIds: opts.ringKeyIds,
      expectedKeyId: opts.expectedKeyId,
    });
    const encrypting = new Set<string>();
    for (const v of versions) for (const t of v.nodes) if (t.keyId) encrypting.add(t.keyId);
    for (const o of offers) if (o.issuedKeyId) encrypting.add(o.issuedKeyId);
    const resumed = offers.filter((o) => o.reused).length;

    return {
      pool,
      ok: nodes.length > 0 && nodes.every((n) => n.ok),
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      plan: names.length <= opts.matrixMax ? 'matrix' : 'cycle',
      versions,
      offers,
      nodes,
      encryptingKeyIds: [...encrypting].sort(),
      diagnostics,
      summary: {
        probes: offers.length,
        resumed,
        failed: offers.length - resumed,
        successRatio: offers.length === 0 ? 0 : resumed / offers.length,
      },
    };
  } finally {
    deadline.dispose();
  }
}
