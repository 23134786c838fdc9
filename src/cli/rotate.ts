import type { Command } from 'commander';
import { Option } from 'commander';
import { UsageError } from '../errors.js';
import { parseDuration } from '../inventory/duration.js';
import { rotate } from '../rotation/rotate.js';
import type { RotationMode } from '../rotation/plan-rotation.js';
import { loadPools, withChangeOptions, withFleetOptions, type FleetOptions } from './options.js';
import { confirmPlans, printReport, recordEvidence, runWithSignals } from './run-report.js';

interface RotateOptions extends FleetOptions {
  overlap?: number;
  dryRun?: boolean;
  yes?: boolean;
  stage?: boolean;
  promote?: boolean;
  breakLock?: boolean;
}

export function registerRotate(program: Command, run: (fn: () => Promise<number>) => void): void {
  const command = withFleetOptions(
    program
      .command('rotate')
      .description(
        'rotate the ticket key of each pool: stage, overlap, promote, verify, retire; roll back on any failure',
      ),
  )
    .addOption(
      new Option(
        '--overlap <duration>',
        "wait between staging and promoting (e.g. 90s, 10m, 2h; 0 allowed); overrides the pools' setting",
      ).argParser(parseOverlap),
    )
    .option('--stage', 'two-step mode, first step: stage the new key everywhere and stop')
    .option(
      '--promote',
      'two-step mode, second step: promote the staged key once the overlap has passed',
    )
    .option(
      '--json',
      'print one JSON document at the end (progress still goes to stderr unless --quiet)',
    );
  withChangeOptions(command)
    .addHelpText(
      'after',
      `
Exit status: 0 done (or, with --dry-run, the plan could run); 1 failed, each failed pool as it was;
2 usage or inventory error; 3 failed and not fully restored (the nodes are named); 4 another run
holds the pool.`,
    )
    .action((opts: RotateOptions) => run(() => rotateCommand(opts)));
}

async function rotateCommand(opts: RotateOptions): Promise<number> {
  if (opts.stage && opts.promote) {
    throw new UsageError(
      '--stage and --promote are the two steps of one rotation; give one of them',
    );
  }
  if (opts.promote && opts.overlap !== undefined) {
    // The stage recorded on the nodes when its key may be promoted; a promotion only reads it.
    throw new UsageError(
      '--overlap has no effect with --promote: the overlap was fixed when the key was staged',
      'give --overlap to `stekctl rotate --stage` instead',
    );
  }
  const mode: RotationMode = opts.stage ? 'stage' : opts.promote ? 'promote' : 'full';
  const { inventory, pools } = await loadPools(opts);
  const report = await runWithSignals(opts, (signal, emit) =>
    rotate({
      planner: 'rotate',
      pools,
      mode,
      dryRun: opts.dryRun === true,
      overlapMs: opts.overlap,
      concurrency: opts.concurrency,
      acceptNewHostKey: opts.acceptNew === true,
      breakLock: opts.breakLock === true,
      emit,
      signal,
      confirm: confirmPlans(opts),
    }),
  );
  printReport('rotate', report, opts, inventory);
  await recordEvidence('rotate', report, opts, inventory);
  return report.exitCode;
}

/** The duration's own message, with the option it came from (as --concurrency names itself). */
function parseOverlap(value: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`--overlap: ${error.message}`);
    throw error;
  }
}
