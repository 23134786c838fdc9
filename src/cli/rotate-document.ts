import type { Inventory } from '../inventory/types.js';
import { ringIds } from '../rotation/placement.js';
import type { RotateReport } from '../rotation/rotate.js';
import type { RotationPlan } from '../rotation/types.js';

/** The plan as JSON: node names instead of objects, key ids only. */
export function planDocument(plan: RotationPlan): unknown {
  return {
    pool: plan.pool.name,
    server: plan.pool.server,
    kind: plan.kind,
    keyId: plan.keyId,
    newKey: plan.generateKey,
    before: Object.fromEntries([...plan.before].map(([n, ids]) => [n.name, ids])),
    after: plan.after,
    phases: plan.phases.map((p) => ({
      name: p.name,
      waitBeforeMs: p.waitBeforeMs,
      description: p.description,
      expectKeyId: p.expectKeyId,
      verifyAfter: p.verifyAfter,
      // Built when the document is written (writeJson and JSON.stringify call toJSON), one
      // phase at a time: a 10,000-node plan's node records would all be made at the very end
      // of the run, on top of everything the run still holds.
      nodes: lazyJson(() =>
        p.steps.map((s) => ({
          node: s.node.name,
          ring: ringIds(s.ring),
          writeKey: s.writeKey,
          writeManaged: s.writeManaged,
          commands: [
            ...(s.writeManaged || s.reload ? [s.node.check] : []),
            ...(s.reload ? [s.node.reload] : []),
          ],
          // HAProxy: the keys go in through the stats socket; the reload is the fallback.
          ...(s.reload && s.node.runtimeApi ? { runtimeApi: s.node.runtimeApi } : {}),
          deleteFiles: s.deleteFiles,
        })),
      ),
    })),
    notes: plan.notes,
    warnings: plan.warnings,
  };
}

export function rotateDocument(
  command: string,
  inventory: Inventory,
  report: RotateReport,
): unknown {
  return {
    command,
    runId: report.runId,
    inventory: { path: inventory.path, sha256: inventory.sha256 },
    mode: report.mode,
    dryRun: report.dryRun,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    exitCode: report.exitCode,
    ok: report.exitCode === 0,
    stopped: report.stopped,
    preflight: report.preflight,
    // Pools whose plan could not be made, why, and what to run instead: the whole run stopped.
    refused: report.refused,
    plans: report.plans.map(planDocument),
    pools: report.results,
    warnings: report.warnings,
  };
}

/** A value JSON serialisers replace with what `make` returns, when they reach it. */
function lazyJson(make: () => unknown): { toJSON(): unknown } {
  return { toJSON: make };
}
