import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Document, isMap, isPair, isScalar, visit } from 'yaml';
import type { FleetNode, FleetPool, InventoryDoc, WriteInventoryOptions } from './types.js';

type Plain = Record<string, unknown>;

function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key, anything else replaces; an undefined value removes the key. */
export function deepMerge(target: Plain, patch: Plain | undefined): Plain {
  if (!patch) return target;
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete target[key];
    else if (isPlain(value) && isPlain(target[key])) deepMerge(target[key], value);
    else target[key] = structuredClone(value);
  }
  return target;
}

interface InventoryInput {
  dir: string;
  identityFile: string;
  knownHosts: string;
  pools: FleetPool[];
}

export function buildInventory(
  fleet: InventoryInput,
  opts: WriteInventoryOptions = {},
): InventoryDoc {
  const names = opts.pools ?? fleet.pools.map((p) => p.name);
  const doc: InventoryDoc = {
    defaults: deepMerge(
      {
        ssh: {
          user: 'root',
          identityFile: fleet.identityFile,
          knownHosts: fleet.knownHosts,
          connectTimeout: '5s',
        },
      },
      opts.defaults,
    ),
    pools: {},
  };
  for (const name of names) {
    const pool = fleet.pools.find((p) => p.name === name);
    if (!pool) throw new Error(`writeInventory: no pool ${name} in this fleet`);
    const nodes = pool.nodes.map((n: FleetNode) =>
      deepMerge(
        {
          host: n.host,
          ssh: { port: n.sshPort },
          keyDir: n.keyDir,
          config: n.config,
          check: n.check,
          reload: n.reload,
        },
        opts.nodeOverrides?.(n),
      ),
    );
    const entry = deepMerge(
      {
        server: pool.server,
        overlap: '0s',
        probe: { port: pool.nodes[0]?.tlsPort, servername: pool.servername, timeout: '3s' },
      },
      opts.poolOverrides?.[name],
    );
    // nodes last, whatever the overrides added, so the file reads pool settings first.
    doc.pools[name] = { ...entry, nodes };
  }
  opts.extra?.(doc);
  return doc;
}

/** `ssh: { port: 22022 }` style for the small maps, block style for the rest. */
export function renderInventory(doc: InventoryDoc): string {
  const yaml = new Document(doc);
  visit(yaml, {
    Pair(_key, pair) {
      if (!isPair(pair) || !isScalar(pair.key) || !isMap(pair.value)) return;
      if (pair.key.value === 'ssh' || pair.key.value === 'probe') pair.value.flow = true;
    },
  });
  return yaml.toString({ lineWidth: 0 });
}

export async function writeInventory(
  fleet: InventoryInput,
  opts: WriteInventoryOptions = {},
): Promise<string> {
  const path = opts.path ?? join(fleet.dir, 'inventory.yaml');
  await writeFile(path, renderInventory(buildInventory(fleet, opts)));
  return path;
}
