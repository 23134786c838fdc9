/**
 * Where a stekctl run's wall time went, from the JSON report it prints (`--json`): the run's
 * start and end, and each phase's start and length per pool.
 */

export interface Breakdown {
  /** Process start and inventory load, before the run's clock starts. */
  startup: number;
  /** Connect, lock, read and config test on every node. */
  preflight: number;
  /** Node-side transactions (stage, promote, retire). */
  apply: number;
  /** Probes between and after the phases: confirmations, tickets, verification. */
  probes: number;
  /** After the last phase: retired-key check, unlock, disconnect. */
  finish: number;
}

export interface RotateJson {
  startedAt: string;
  finishedAt: string;
  pools: {
    pool: string;
    outcome: string;
    error?: string;
    phases: { name: string; startedAt: string; ms: number }[];
  }[];
}

export function breakdownOf(doc: RotateJson, wallMs: number): Breakdown | undefined {
  const start = Date.parse(doc.startedAt);
  const end = Date.parse(doc.finishedAt);
  const phases = doc.pools.flatMap((p) => p.phases);
  if (phases.length === 0) return undefined;
  const first = Math.min(...phases.map((p) => Date.parse(p.startedAt)));
  const last = Math.max(...phases.map((p) => Date.parse(p.startedAt) + p.ms));
  // Pools run side by side, and drift apart (one pool retires while another still verifies):
  // apply is the time during which any pool ran a phase's transactions, the union of them all.
  const spans = phases
    .map((p): [number, number] => [Date.parse(p.startedAt), Date.parse(p.startedAt) + p.ms])
    .sort((a, b) => a[0] - b[0]);
  let apply = 0;
  let reached = -Infinity;
  for (const [s, e] of spans) {
    if (e > reached) apply += e - Math.max(s, reached);
    reached = Math.max(reached, e);
  }
  return {
    startup: Math.max(0, wallMs - (end - start)),
    preflight: first - start,
    apply,
    probes: last - first - apply,
    finish: end - last,
  };
}
