import type { Command } from 'commander';
import { ExitCode } from '../errors.js';
import type { SessionMap } from '../fleet/inspect-pools.js';
import { verifyPools } from '../fleet/verify-pools.js';
import { closeSessions } from '../remote/session-pool.js';
import { verifySamples, writeMetricsFile } from '../report/metrics.js';
import { loadPools, metricsFileOption, withFleetOptions, type FleetOptions } from './options.js';
import { renderVerification, verifyDocument } from './render-verify.js';
import { fillInvocation } from './invocation.js';
import { createTerminal } from './terminal.js';
import { writeJson } from './write-json.js';

interface VerifyOptions extends FleetOptions {
  ring: boolean;
}

export function registerVerify(program: Command, run: (fn: () => Promise<number>) => void): void {
  const command = withFleetOptions(
    program
      .command('verify')
      .description(
        "prove with real TLS handshakes that every node resumes its peers' tickets, in each TLS version, under one key",
      ),
  )
    .option('--json', 'print one JSON document with every probe result')
    .option(
      '--no-ring',
      'probe only; do not read the rings over SSH (less diagnosis, no SSH needed)',
    )
    .addOption(metricsFileOption());
  command
    .addHelpText(
      'after',
      "\nExit status: 0 when in every pool every node issues tickets under the same key and resumes its peers' tickets in each probed TLS version; 1 otherwise, naming the nodes and the reason; 2 usage or inventory error.",
    )
    .action((opts: VerifyOptions) => run(() => verify(opts)));
}

async function verify(opts: VerifyOptions): Promise<number> {
  const { inventory, pools } = await loadPools(opts);
  const sessions: SessionMap = new Map();
  try {
    const results = await verifyPools(
      pools,
      {
        concurrency: opts.concurrency,
        readRings: opts.ring,
        acceptNewHostKey: opts.acceptNew ?? false,
      },
      sessions,
    );
    const ok = results.every((r) => r.ok);
    if (opts.metricsFile) {
      try {
        await writeMetricsFile(opts.metricsFile, verifySamples(results, new Date()));
      } catch (err) {
        process.stderr.write(
          `stekctl: warning: could not write the metrics file ${opts.metricsFile}: ${(err as Error).message}\n`,
        );
      }
    }
    if (opts.json) {
      writeJson(process.stdout, verifyDocument(inventory, results, ok));
    } else {
      process.stdout.write(
        fillInvocation(renderVerification(results, createTerminal(process.stdout))),
      );
    }
    return ok ? ExitCode.ok : ExitCode.failed;
  } finally {
    await closeSessions(sessions);
  }
}
