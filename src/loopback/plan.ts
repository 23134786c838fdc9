import { randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { claimedSubnets } from './reaper.js';
import { serverKinds } from '../inventory/types.js';
import type { FleetSpec } from './types.js';
import { canBind } from './wait.js';

export const sshPort = 22022;
export const tlsPort = 24443;
const maxNodesPerPool = 20;

/** Rejects a spec that would fail later in a less obvious way. */
export function validateSpec(spec: FleetSpec): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  if (spec.pools.length === 0) problems.push('no pools');
  for (const p of spec.pools) {
    const where = `pool ${JSON.stringify(p.name)}`;
    // Pool names become directory names, hostnames and HAProxy socket paths (at most 107 bytes).
    if (!/^[a-z0-9][a-z0-9-]{0,29}$/.test(p.name)) problems.push(`${where}: use 1-30 of [a-z0-9-]`);
    if (seen.has(p.name)) problems.push(`${where}: declared twice`);
    seen.add(p.name);
    if (!serverKinds.includes(p.server))
      problems.push(`${where}: unknown server ${String(p.server)}`);
    if (!Number.isInteger(p.nodes) || p.nodes < 1 || p.nodes > maxNodesPerPool) {
      problems.push(`${where}: nodes must be 1..${maxNodesPerPool}`);
    }
    const inRange = (i: number | undefined): boolean =>
      i === undefined || (Number.isInteger(i) && i >= 0 && i < p.nodes);
    if (!inRange(p.distinctCertNode))
      problems.push(`${where}: distinctCertNode is not a node index (0-based)`);
    if (!inRange(p.distinctTicketsNode))
      problems.push(`${where}: distinctTicketsNode is not a node index (0-based)`);
    if (p.distinctTicketsNode !== undefined && p.server !== 'haproxy') {
      problems.push(`${where}: distinctTicketsNode applies to haproxy only`);
    }
  }
  if (problems.length > 0) throw new Error(`invalid fleet spec:\n- ${problems.join('\n- ')}`);
}

/**
 * Picks a free `127.A.B` for `count` nodes: not claimed by another live fleet, and every port of
 * every node bindable. Records the claim in the fleet directory.
 */
export async function chooseSubnet(dir: string, count: number): Promise<string> {
  const claimed = claimedSubnets();
  for (let attempt = 0; attempt < 40; attempt++) {
    const ab = `${randomInt(1, 251)}.${randomInt(1, 251)}`;
    if (claimed.has(ab)) continue;
    const checks: Promise<boolean>[] = [];
    for (let n = 1; n <= count; n++) {
      checks.push(canBind(`127.${ab}.${n}`, sshPort), canBind(`127.${ab}.${n}`, tlsPort));
    }
    if (!(await Promise.all(checks)).every(Boolean)) continue;
    await writeFile(join(dir, 'subnet'), `${ab}\n`);
    return `127.${ab}`;
  }
  throw new Error('no free 127.A.B subnet found for the test fleet after 40 tries');
}
