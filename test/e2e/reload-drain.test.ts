import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load-inventory.js';
import type { NodeSpec } from '../../src/inventory/types.js';
import { takeTicket } from '../../src/probe/index.js';
import { buildApplyScript, parseApplyOutput } from '../../src/servers/apply-script.js';
import { adapterFor } from '../../src/servers/index.js';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { newKey, keyId } from './cli.js';
import { targetOf } from './invariant.js';

/**
 * nginx starts its new workers and tells the old ones to quit only about 100 ms later: a reload
 * transaction that returned on the first sight of new workers would let the handshakes that
 * confirm it meet an old worker. It returns once the old workers stopped accepting.
 */

let fleet: Fleet;
let node: FleetNode;
let spec: NodeSpec;

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 1 }] });
  node = fleet.pool('web').nodes[0] as FleetNode;
  const inventory = await loadInventory(await fleet.writeInventory());
  spec = inventory.pools[0]?.nodes[0] as NodeSpec;
});
afterAll(async () => {
  await fleet?.stop();
});

/** Runs a node-side script here, its temporary files in `tmp`. */
function runLocally(script: string, stdin: string, tmp: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, TMPDIR: tmp };
    const child = execFile('sh', ['-c', script], { env }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
    child.stdin?.end(stdin);
  });
}

describe('an nginx reload transaction', () => {
  it('returns once no old worker accepts: every handshake right after it is under the new key', async () => {
    const adapter = adapterFor('nginx');
    const tmp = await mkdtemp(join(tmpdir(), 'stekctl-drain-'));
    for (let round = 0; round < 3; round++) {
      const key = newKey(48);
      const file = `${keyId(key)}.key`;
      const script = buildApplyScript(adapter, spec, {
        newKeys: [{ file, size: 48 }],
        adoptKeyLines: false,
        managed: { kind: 'text', text: `ssl_session_ticket_key ${node.keyDir}/${file};\n` },
        manifest: undefined,
        check: true,
        reload: true,
        deleteFiles: [],
        generationWaitMs: 10_000,
      });
      const outcome = parseApplyOutput(
        await runLocally(script, `${key.toString('base64')}\n`, tmp),
        '',
        0,
      );
      expect(outcome).toMatchObject({
        ok: true,
        generationChanged: true,
        oldGenerationStopped: true,
      });
      const tickets = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          takeTicket(targetOf(node), i % 2 === 0 ? 'TLSv1.2' : 'TLSv1.3'),
        ),
      );
      expect(tickets.map((t) => t.keyId)).toEqual(tickets.map(() => keyId(key)));
      // The config dump's private directory is gone with the transaction.
      expect(await readdir(tmp)).toEqual([]);
    }
  });
});
