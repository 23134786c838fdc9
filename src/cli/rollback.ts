import type { Command } from 'commander';
import { rotate } from '../rotation/rotate.js';
import {
  acceptNewOption,
  sshConfigOption,
  auditLogOption,
  metricsFileOption,
  stateDirOption,
  concurrencyOption,
  inventoryOption,
  loadPools,
  poolOption,
  type FleetOptions,
} from './options.js';
import { confirmPlans, printReport, recordEvidence, runWithSignals } from './run-report.js';

interface RollbackOptions extends FleetOptions {
  dryRun?: boolean;
  yes?: boolean;
  breakLock?: boolean;
}

export function registerRollback(program: Command, run: (fn: () => Promise<number>) => void): void {
  program
    .command('rollback')
    .description(
      'return each pool to its ring before the last rotation, while the previous key is still retained',
    )
    .addOption(inventoryOption())
    .addOption(poolOption())
    .option('--dry-run', 'preflight every node and print the plan; write and reload nothing')
    .option('-y, --yes', 'do not ask before changing anything')
    .option('--json', 'print one JSON document at the end')
    .option('-q, --quiet', 'no progress output')
    .option('--break-lock', "break another run's lock on the pool")
    .addOption(concurrencyOption())
    .addOption(acceptNewOption())
    .addOption(sshConfigOption())
    .addOption(stateDirOption())
    .addOption(auditLogOption())
    .addOption(metricsFileOption())
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
