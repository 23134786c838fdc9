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
  // Pools run side by side: count a phase's span once, by name, across pools.
  const spans = new Map<string, [number, number]>();
  for (const p of phases) {
    const a = Date.parse(p.startedAt);
    const [s, e] = spans.get(p.name) ?? [a, a + p.ms];
    spans.set(p.name, [Math.min(s, a), Math.max(e, a + p.ms)]);
  }
  const apply = [...spans.values()].reduce((sum, [s, e]) => sum + (e - s), 0);
  return {
    startup: Math.max(0, wallMs - (end - start)),
    preflight: first - start,
    apply,
    probes: last - first - apply,
    finish: end - last,
  };
}
