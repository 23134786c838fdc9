import type { Command } from 'commander';
import { ExitCode } from '../errors.js';
import { closeSessions } from '../remote/session-pool.js';
import { inspectPools, type SessionMap } from '../fleet/inspect-pools.js';
import { loadPools, withFleetOptions, type FleetOptions } from './options.js';
import { renderStatus, statusDocument } from './render-status.js';
import { fillInvocation } from './invocation.js';
import { createTerminal } from './terminal.js';
import { writeJson } from './write-json.js';

export function registerStatus(program: Command, run: (fn: () => Promise<number>) => void): void {
  const command = withFleetOptions(
    program
      .command('status')
      .description(
        'show, read-only, the ticket-key ring of every node of every pool, and whether each pool shares one ring',
      ),
    { probes: false },
  ).option('--json', 'print one JSON document');
  command
    .addHelpText(
      'after',
      '\nExit status: 0 every node reachable and every pool consistent; 1 otherwise (the nodes at fault are named); 2 usage or inventory error.',
    )
    .action((opts: FleetOptions) => run(() => status(opts)));
}

async function status(opts: FleetOptions): Promise<number> {
  // Status reads files over SSH and makes no handshakes: no probe threads.
  const { inventory, pools } = await loadPools({ ...opts, probeThreads: 0 });
  const sessions: SessionMap = new Map();
  try {
    const reports = await inspectPools(
      pools,
      { concurrency: opts.concurrency, runCheck: false, acceptNewHostKey: opts.acceptNew ?? false },
      sessions,
    );
    const ok = reports.every((r) => r.verdict === 'consistent');
    if (opts.json) {
      writeJson(process.stdout, statusDocument(inventory, reports, ok));
    } else {
      process.stdout.write(fillInvocation(renderStatus(reports, createTerminal(process.stdout))));
    }
    return ok ? ExitCode.ok : ExitCode.failed;
  } finally {
    await closeSessions(sessions);
  }
}
