import type { Command } from 'commander';
import { Option } from 'commander';
import { createInterface } from 'node:readline/promises';
import { UsageError } from '../errors.js';
import { parseDuration } from '../inventory/duration.js';
import { rotate, type RotateReport } from '../rotation/rotate.js';
import type { RotationMode } from '../rotation/plan-rotation.js';
import type { RotationPlan } from '../rotation/types.js';
import {
  acceptNewOption,
  concurrencyOption,
  inventoryOption,
  loadPools,
  poolOption,
  type FleetOptions,
} from './options.js';
import { renderPlan } from './render-plan.js';
import { createProgress, renderSummary } from './render-rotate.js';
import { rotateDocument } from './rotate-document.js';
import { createTerminal } from './terminal.js';

interface RotateOptions extends FleetOptions {
  overlap?: number;
  dryRun?: boolean;
  yes?: boolean;
  stage?: boolean;
  promote?: boolean;
  breakLock?: boolean;
}

export function registerRotate(program: Command, run: (fn: () => Promise<number>) => void): void {
  program
    .command('rotate')
    .description(
      'rotate the ticket key of each pool: stage, overlap, promote, verify, retire; roll back on any failure',
    )
    .addOption(inventoryOption())
    .addOption(poolOption())
    .addOption(
      new Option(
        '--overlap <duration>',
        "wait between staging and promoting (e.g. 90s, 10m, 2h; 0 allowed); overrides the pools' setting",
      ).argParser((v) => parseDuration(v)),
    )
    .option('--dry-run', 'preflight every node and print the plan; write and reload nothing')
    .option('--stage', 'two-step mode, first step: stage the new key everywhere and stop')
    .option(
      '--promote',
      'two-step mode, second step: promote the staged key once the overlap has passed',
    )
    .option('-y, --yes', 'do not ask before changing anything')
    .option(
      '--json',
      'print one JSON document at the end (progress still goes to stderr unless --quiet)',
    )
    .option('-q, --quiet', 'no progress output')
    .option(
      '--break-lock',
      "break another run's lock on the pool (only when you know that run is gone)",
    )
    .addOption(concurrencyOption())
    .addOption(acceptNewOption())
    .addHelpText(
      'after',
      `
Exit status: 0 done (or, with --dry-run, the plan could run); 1 failed and every node is as it was;
2 usage or inventory error; 3 failed and not fully restored (the nodes are named); 4 another run
holds the pool.`,
    )
    .action((opts: RotateOptions) => run(() => rotateCommand(opts)));
}

async function rotateCommand(opts: RotateOptions): Promise<number> {
  if (opts.stage && opts.promote)
    throw new UsageError(
      '--stage and --promote are the two steps of one rotation; give one of them',
    );
  const mode: RotationMode = opts.stage ? 'stage' : opts.promote ? 'promote' : 'full';
  const { inventory, pools } = await loadPools(opts);
  const err = createTerminal(process.stderr);
  const out = createTerminal(process.stdout);
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !opts.json;
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      process.stderr.write(
        `\n${sig}: stopping at the next safe point and rolling back; wait for it\n`,
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
  const progress = createProgress(process.stderr, err, opts.quiet === true);
  try {
    const report = await rotate({
      pools,
      mode,
      dryRun: opts.dryRun === true,
      overlapMs: opts.overlap,
      concurrency: opts.concurrency,
      acceptNewHostKey: opts.acceptNew === true,
      breakLock: opts.breakLock === true,
      emit: progress,
      signal: controller.signal,
      confirm: opts.yes || !interactive ? undefined : (plans) => askToProceed(plans),
    });
    print(report, opts, out, inventory);
    return report.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function print(
  report: RotateReport,
  opts: RotateOptions,
  t: ReturnType<typeof createTerminal>,
  inventory: Parameters<typeof rotateDocument>[1],
): void {
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify(rotateDocument('rotate', inventory, report), null, 2)}\n`,
    );
    return;
  }
  if (report.stopped === 'locked') {
    // A timer that finds another run at work says so in one line, nothing more.
    process.stderr.write(renderSummary(report, t));
    return;
  }
  if (opts.dryRun && !report.stopped) {
    for (const plan of report.plans) process.stdout.write(renderPlan(plan, t, { dryRun: true }));
    process.stdout.write('dry run: nothing was written or reloaded\n');
    return;
  }
  const text = renderSummary(report, t);
  (report.exitCode === 0 ? process.stdout : process.stderr).write(text);
}

async function askToProceed(plans: RotationPlan[]): Promise<boolean> {
  const t = createTerminal(process.stdout);
  for (const plan of plans) process.stdout.write(renderPlan(plan, t, { dryRun: false }));
  if (plans.every((p) => p.phases.length === 0)) return false;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question('Proceed? [y/N] ');
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
