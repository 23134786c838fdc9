import type { Command } from 'commander';
import { rotate } from '../rotation/rotate.js';
import { loadPools, withChangeOptions, withFleetOptions, type FleetOptions } from './options.js';
import { confirmPlans, printReport, recordEvidence, runWithSignals } from './run-report.js';

interface RollbackOptions extends FleetOptions {
  dryRun?: boolean;
  yes?: boolean;
  breakLock?: boolean;
}

export function registerRollback(program: Command, run: (fn: () => Promise<number>) => void): void {
  const command = withFleetOptions(
    program
      .command('rollback')
      .description(
        'return each pool to its ring before the last rotation, while the previous key is still retained',
      ),
  ).option('--json', 'print one JSON document at the end');
  withChangeOptions(command)
    .addHelpText(
      'after',
      `
Refuses, and says why, when no previous ring is recorded or its key is no longer on every node.
Exit status as for rotate: 0 done; 1 refused or failed and the fleet is as it was; 2 usage or
inventory error; 3 failed and not fully restored; 4 another run holds the pool.`,
    )
    .action((opts: RollbackOptions) => run(() => rollbackCommand(opts)));
}

async function rollbackCommand(opts: RollbackOptions): Promise<number> {
  const { inventory, pools } = await loadPools(opts);
  const report = await runWithSignals(opts, (signal, emit) =>
    rotate({
      planner: 'rollback',
      pools,
      mode: 'full',
      dryRun: opts.dryRun === true,
      overlapMs: 0,
      concurrency: opts.concurrency,
      acceptNewHostKey: opts.acceptNew === true,
      breakLock: opts.breakLock === true,
      emit,
      signal,
      confirm: confirmPlans(opts),
    }),
  );
  printReport('rollback', report, opts, inventory);
  await recordEvidence('rollback', report, opts, inventory);
  return report.exitCode;
}
