import { Option, type Command } from 'commander';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { loadInventory } from '../inventory/load-inventory.js';
import { onHostKeyRecorded } from '../remote/host-key-verifier.js';
import { useSshConfig } from '../remote/ssh-target.js';
import type { Inventory, PoolSpec } from '../inventory/types.js';
import { checkDescriptorLimit } from './descriptor-limit.js';
import { rememberInvocation } from './invocation.js';
import { probeThreadsOption, startProbeThreads } from './probe-threads.js';

/** Options shared by the verbs that act on an inventory. */
export interface FleetOptions {
  inventory: string;
  pool?: string[];
  json?: boolean;
  quiet?: boolean;
  concurrency: number;
  probeThreads?: number | 'auto';
  acceptNew?: boolean;
  sshConfig?: string;
  stateDir?: string;
  auditLog?: string;
  metricsFile?: string;
}

export function inventoryOption(): Option {
  return new Option('-i, --inventory <file>', 'inventory file (YAML)').makeOptionMandatory();
}

export function poolOption(): Option {
  return new Option('-p, --pool <name>', 'act on this pool only (repeatable)').argParser(
    (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
  );
}

/** --concurrency when not given. */
export const defaultConcurrency = 16;

export function concurrencyOption(): Option {
  return new Option('--concurrency <n>', 'nodes worked on at once')
    .default(defaultConcurrency)
    .argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 1024) {
        throw new UsageError(`--concurrency: expected a whole number from 1 to 1024, got "${v}"`);
      }
      return n;
    });
}

export function acceptNewOption(): Option {
  return new Option(
    '--accept-new',
    'record unknown host keys in knownHosts on first contact (a changed key is never accepted)',
  );
}

/**
 * Loads the inventory, picks the pools named with --pool (all when none) and resolves every node
 * through the OpenSSH client config, so that any problem is a usage error before anything is
 * contacted.
 */
export async function loadPools(
  opts: Pick<FleetOptions, 'inventory' | 'pool' | 'sshConfig' | 'probeThreads'> &
    Partial<Pick<FleetOptions, 'concurrency' | 'acceptNew'>>,
): Promise<{ inventory: Inventory; pools: PoolSpec[] }> {
  const picked = await pickPools(opts);
  if (opts.acceptNew) sayRecordedHostKeys();
  checkDescriptorLimit(picked.pools, opts.concurrency ?? defaultConcurrency);
  await useSshConfig(picked.pools, opts.sshConfig);
  // Started now, they are ready by the time the first probe runs, after the SSH preflight.
  startProbeThreads(opts.probeThreads, picked.pools);
  return picked;
}

/** --accept-new trusts a node's first key: each one recorded is said on stderr, as ssh does. */
function sayRecordedHostKeys(): void {
  onHostKeyRecorded((k) => {
    process.stderr.write(
      `recorded the host key of ${k.name} (${k.keyType} ${k.fingerprint}) in ${k.file} (--accept-new)\n`,
    );
  });
}

async function pickPools(
  opts: Pick<FleetOptions, 'inventory' | 'pool' | 'sshConfig'>,
): Promise<{ inventory: Inventory; pools: PoolSpec[] }> {
  const inventory = await loadInventory(opts.inventory);
  rememberInvocation({ inventory: opts.inventory, pools: opts.pool, sshConfig: opts.sshConfig });
  if (!opts.pool || opts.pool.length === 0) return { inventory, pools: inventory.pools };
  const pools: PoolSpec[] = [];
  for (const name of opts.pool) {
    const pool = inventory.pools.find((p) => p.name === name);
    if (!pool) {
      throw new UsageError(
        `--pool ${name}: no such pool in ${inventory.path}`,
        `pools: ${inventory.pools.map((p) => p.name).join(', ')}`,
      );
    }
    if (!pools.includes(pool)) pools.push(pool);
  }
  return { inventory, pools };
}

export function sshConfigOption(): Option {
  return new Option(
    '--ssh-config <file>',
    "OpenSSH client config to honour instead of ~/.ssh/config and /etc/ssh/ssh_config ('none' for none); inventory ssh settings win over it",
  );
}

export function stateDirOption(): Option {
  return new Option(
    '--state-dir <dir>',
    'where stekctl keeps its audit log (default: $STEKCTL_STATE_DIR, /var/lib/stekctl as root, else $XDG_STATE_HOME/stekctl or ~/.local/state/stekctl)',
  );
}

export function auditLogOption(): Option {
  return new Option(
    '--audit-log <file>',
    'append one JSON line per run here (default: <state-dir>/audit.log)',
  );
}

export function metricsFileOption(): Option {
  return new Option(
    '--metrics-file <file>',
    "write Prometheus metrics here, atomically (for node_exporter's textfile collector)",
  );
}

export function defaultStateDir(): string {
  if (process.env.STEKCTL_STATE_DIR) return process.env.STEKCTL_STATE_DIR;
  if (process.getuid?.() === 0) return '/var/lib/stekctl';
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'stekctl');
}

/** The options of every verb that contacts the fleet; `probes: false` for one that makes no handshakes. */
export function withFleetOptions(command: Command, { probes = true } = {}): Command {
  command.addOption(inventoryOption()).addOption(poolOption()).addOption(concurrencyOption());
  if (probes) command.addOption(probeThreadsOption());
  return command.addOption(acceptNewOption()).addOption(sshConfigOption());
}

/** The options of the verbs that change the fleet: rotate and rollback. */
export function withChangeOptions(command: Command): Command {
  return command
    .option('--dry-run', 'preflight every node and print the plan; write and reload nothing')
    .option('-y, --yes', 'do not ask before changing anything')
    .option('-q, --quiet', 'no progress output')
    .option(
      '--break-lock',
      "break another run's lock on the pool (only when you know that run is gone)",
    )
    .addOption(stateDirOption())
    .addOption(auditLogOption())
    .addOption(metricsFileOption());
}
