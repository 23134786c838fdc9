import { mkdir, open } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { dirname } from 'node:path';
import type { Inventory } from '../inventory/types.js';
import type { RotateReport } from '../rotation/rotate.js';

/**
 * One JSON line per rotate or rollback: who, where, on which inventory, what each pool went
 * through and how it ended. Key ids only, never key bytes.
 */
export function buildAuditRecord(
  command: 'rotate' | 'rollback',
  inventory: Inventory,
  report: RotateReport,
  argv: string[],
): Record<string, unknown> {
  return {
    time: report.finishedAt,
    startedAt: report.startedAt,
    command,
    args: argv,
    runId: report.runId,
    user: currentUser(),
    host: hostname(),
    inventory: { path: inventory.path, sha256: inventory.sha256 },
    mode: report.mode,
    dryRun: report.dryRun,
    exitCode: report.exitCode,
    outcome: report.stopped ?? (report.exitCode === 0 ? 'ok' : 'failed'),
    preflight: report.preflight,
    refused: report.refused,
    warnings: report.warnings,
    pools: report.plans.map((plan) => {
      const r = report.results.find((x) => x.pool === plan.pool.name);
      return {
        pool: plan.pool.name,
        server: plan.pool.server,
        nodes: plan.pool.nodes.map((n) => n.name),
        kind: plan.kind,
        keyId: plan.keyId,
        before: Object.fromEntries([...plan.before].map(([n, ids]) => [n.name, ids])),
        after: r?.outcome === 'rotated' ? plan.after : undefined,
        outcome: r?.outcome ?? (report.dryRun ? 'planned' : 'not-run'),
        exitCode: r?.exitCode,
        phases: r?.phases.map((p) => ({
          name: p.name,
          ok: p.ok,
          startedAt: p.startedAt,
          ms: p.ms,
          windowMs: p.windowMs,
          failed: p.nodes.filter((n) => !n.ok),
        })),
        verification: r?.verification
          ? {
              ok: r.verification.ok,
              ...r.verification.summary,
              encryptingKeyIds: r.verification.encryptingKeyIds,
            }
          : undefined,
        ticketChecks: r?.ticketChecks,
        switchLoss: r?.switchLoss,
        needsPerson: r?.needsPerson,
        error: r?.error,
      };
    }),
  };
}

/** Appends one line with O_APPEND, so that concurrent runs never interleave within a line. */
export async function appendAuditLine(
  path: string,
  record: Record<string, unknown>,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const handle = await open(path, 'a', 0o600);
  try {
    await handle.write(`${JSON.stringify(record)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function currentUser(): string {
  try {
    return process.env.SUDO_USER
      ? `${userInfo().username} (sudo from ${process.env.SUDO_USER})`
      : userInfo().username;
  } catch {
    return 'unknown';
  }
}
