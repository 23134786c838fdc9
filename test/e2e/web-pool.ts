import { expect } from 'vitest';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { runCli } from './cli.js';

export interface WebPool {
  fleet: Fleet;
  nodes: FleetNode[];
  inventory: string;
}

/**
 * The fleet most end-to-end files start from: one nginx pool `web` of three nodes, already
 * brought to a steady ring by `rotations` rotations (default one; two give every ring a previous
 * key as well), so that each test starts from what a fleet under stekctl looks like.
 */
export async function startWebPool(rotations = 1): Promise<WebPool> {
  const fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 3 }] });
  const inventory = await fleet.writeInventory();
  for (let i = 0; i < rotations; i++) {
    const boot = await runCli(['rotate', '-i', inventory, '--yes', '--quiet']);
    expect(boot.code, boot.stderr).toBe(0);
  }
  return { fleet, nodes: fleet.pool('web').nodes, inventory };
}
