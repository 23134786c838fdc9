import { Option } from 'commander';
import { availableParallelism } from 'node:os';
import { UsageError } from '../errors.js';
import type { PoolSpec } from '../inventory/types.js';
import { useHandshakeWorkers } from '../probe/handshake-workers.js';

/**
 * From this many nodes on, probes run in worker threads by default. Simulated, on two cores
 * (docs/benchmarks.md): no gain at 64 and 256 nodes for 20 MB more, 6% less time at 1,000,
 * 15% at 10,000.
 */
const autoThreadsFromNodes = 1000;
/** More threads than this gain nothing: the nodes, not the control host, are then the limit. */
const maxAutoThreads = 4;

export function probeThreadsOption(): Option {
  return new Option(
    '--probe-threads <n>',
    `worker threads for TLS probes, beside the SSH work ("auto": up to ${maxAutoThreads}, one core left free, for ${autoThreadsFromNodes} nodes or more; 0: none)`,
  )
    .default('auto')
    .argParser((v) => {
      if (v === 'auto') return v;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 16) {
        throw new UsageError(
          `--probe-threads: expected "auto" or a whole number from 0 to 16, got "${v}"`,
        );
      }
      return n;
    });
}

/** How many probe threads a run over `pools` gets. */
export function probeThreadCount(
  choice: number | 'auto' | undefined,
  pools: readonly PoolSpec[],
): number {
  if (typeof choice === 'number') return choice;
  const nodes = pools.reduce((sum, p) => sum + p.nodes.length, 0);
  if (nodes < autoThreadsFromNodes) return 0;
  return Math.min(maxAutoThreads, availableParallelism() - 1);
}

/** Starts the probe threads of a run over `pools` (none below the threshold). */
export function startProbeThreads(
  choice: number | 'auto' | undefined,
  pools: readonly PoolSpec[],
): void {
  const count = probeThreadCount(choice, pools);
  if (count > 0) useHandshakeWorkers(count);
}
