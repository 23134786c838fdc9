/**
 * A real fleet on loopback for end-to-end tests: per node one sshd (port 22022) and one TLS
 * server (nginx, Apache, HAProxy or a Node.js cluster on port 24443), each on its own 127.A.B.N
 * address, all under one temporary directory. Runs as root.
 *
 *   const fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 3 }] });
 *   const inventory = await fleet.writeInventory();
 *   ...run stekctl against `inventory`, assert with node.sh(), node.serverPids()...
 *   await fleet.stop(); // in afterAll; also done on exit and on SIGINT/SIGTERM/SIGHUP
 *
 * Fleets left by a killed test run are removed by the next startFleet() (see reapStaleFleets).
 */
export { startFleet } from './fleet.js';
export { reapStaleFleets } from './reaper.js';
export { buildInventory, renderInventory } from './inventory.js';
export { run, runShell } from './exec.js';
export { askNode, type NodeAnswer } from './node-client.js';
export type {
  Fleet,
  FleetNode,
  FleetPool,
  FleetPoolSpec,
  FleetSpec,
  InventoryDoc,
  ServerKind,
  ShOptions,
  ShResult,
  WriteInventoryOptions,
} from './types.js';
