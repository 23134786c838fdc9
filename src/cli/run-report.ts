import { setMaxListeners } from 'node:events';
import { createInterface } from 'node:readline/promises';
import { join } from 'node:path';
import { appendAuditLine, buildAuditRecord } from '../report/audit-log.js';
import { rotationSamples, writeMetricsFile } from '../report/metrics.js';
import { defaultStateDir } from './options.js';
import type { Inventory } from '../inventory/types.js';
import type { RotateReport } from '../rotation/rotate.js';
import type { EmitEvent, RotationPlan } from '../rotation/types.js';
import { renderPlan } from './render-plan.js';
import { createProgress, renderSummary } from './render-rotate.js';
import { rotateDocument } from './rotate-document.js';
import { fillInvocation } from './invocation.js';
import { createTerminal } from './terminal.js';
import { writeJson } from './write-json.js';

interface ReportOptions {
  json?: boolean;
  quiet?: boolean;
  dryRun?: boolean;
  yes?: boolean;
}

/**
 * Runs a changing command with SIGINT/SIGTERM turned into "stop at the next safe point and roll
 * back", and progress rendered on stderr.
 */
export async function runWithSignals(
  opts: ReportOptions,
  work: (signal: AbortSignal, emit: EmitEvent) => Promise<RotateReport>,
): Promise<RotateReport> {
  const controller = new AbortController();
  // Each pool's waits and probe deadlines listen on it: many pools are expected.
  setMaxListeners(0, controller.signal);
  const onSignal = (sig: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      process.stderr.write(
        `\n${sig}: stopping at the next safe point and rolling back (a run already retiring old keys finishes instead); wait for it\n`,
      );
      controller.abort();
    } else {
      process.stderr.write(
        `\n${sig}: still rolling back; stopping now would leave the pool half-done\n`,
      );
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(
      controller.signal,
      createProgress(process.stderr, createTerminal(process.stderr), opts.quiet === true),
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * On a terminal, show the plan and ask; `--yes` or no terminal: no prompt. With `--json` the
 * plan and the question go to stderr, so that stdout holds the document alone: asking for JSON
 * at a terminal does not change the fleet unasked.
 */
export function confirmPlans(
  opts: ReportOptions,
): ((plans: RotationPlan[]) => Promise<boolean>) | undefined {
  const out = opts.json ? process.stderr : process.stdout;
  const interactive = process.stdin.isTTY === true && out.isTTY === true;
  if (opts.yes || !interactive) return undefined;
  return async (plans) => {
    const t = createTerminal(out);
    for (const plan of plans) out.write(fillInvocation(renderPlan(plan, t, { dryRun: false })));
    if (plans.every((p) => p.phases.length === 0)) return false;
    const rl = createInterface({ input: process.stdin, output: out });
    try {
      return /^y(es)?$/i.test((await rl.question('Proceed? [y/N] ')).trim());
    } finally {
      rl.close();
    }
  };
}

export function printReport(
  command: string,
  report: RotateReport,
  opts: ReportOptions,
  inventory: Inventory,
): void {
  const t = createTerminal(process.stdout);
  if (opts.json) {
    writeJson(process.stdout, rotateDocument(command, inventory, report));
    return;
  }
  if (report.stopped === 'locked') {
    // A timer that finds another run at work says so in one line, nothing more.
    process.stderr.write(fillInvocation(renderSummary(report, createTerminal(process.stderr))));
    return;
  }
  if (opts.dryRun && !report.stopped) {
    for (const plan of report.plans)
      process.stdout.write(fillInvocation(renderPlan(plan, t, { dryRun: true })));
    process.stdout.write('dry run: nothing was written or reloaded\n');
    return;
  }
  const text = renderSummary(report, report.exitCode === 0 ? t : createTerminal(process.stderr));
  (report.exitCode === 0 ? process.stdout : process.stderr).write(fillInvocation(text));
}

interface EvidenceOptions {
  stateDir?: string;
  auditLog?: string;
  metricsFile?: string;
}

/**
 * Keeps the evidence of a run: one audit line, always (dry runs and refusals included), and the
 * metrics file when asked. A failure to write them is reported but does not change what the run
 * did to the fleet, so it does not change the exit code either. The metrics describe the last
 * run that tried to change the pools: a dry run, or a run that another run's lock kept off,
 * leaves them as they are, so that neither hides a failure an alert is firing for (nor raises
 * one: a locked run shows as a key that grows old).
 */
export async function recordEvidence(
  command: 'rotate' | 'rollback',
  report: RotateReport,
  opts: EvidenceOptions,
  inventory: Inventory,
): Promise<void> {
  const auditPath = opts.auditLog ?? join(opts.stateDir ?? defaultStateDir(), 'audit.log');
  try {
    await appendAuditLine(
      auditPath,
      buildAuditRecord(command, inventory, report, process.argv.slice(2)),
    );
  } catch (err) {
    process.stderr.write(
      `stekctl: warning: could not append to the audit log ${auditPath}: ${(err as Error).message}\n`,
    );
  }
  if (opts.metricsFile && !report.dryRun && report.stopped !== 'locked') {
    const last = new Map(
      Object.entries(report.lastRotation).map(([pool, iso]) => [
        pool,
        iso ? Date.parse(iso) : undefined,
      ]),
    );
    try {
      await writeMetricsFile(opts.metricsFile, rotationSamples(report, last));
    } catch (err) {
      process.stderr.write(
        `stekctl: warning: could not write the metrics file ${opts.metricsFile}: ${(err as Error).message}\n`,
      );
    }
  }
}
