import { writeFile } from 'node:fs/promises';
import { it } from 'vitest';
import { startFleet } from './fleet/index.js';
import { placeNginxRing, newKey } from './cli.js';

it('scratch', async () => {
  const t0 = Date.now();
  const fleet = await startFleet({
    pools: [
      { name: 'web', server: 'nginx', nodes: 3 },
      { name: 'lb', server: 'haproxy', nodes: 2 },
      { name: 'app', server: 'apache', nodes: 2 },
    ],
  });
  console.log('fleet up in', Date.now() - t0);
  const key = newKey();
  for (const n of fleet.pool('web').nodes) {
    await placeNginxRing(n, [key]);
    await n.reloadServer();
  }
  const inv = await fleet.writeInventory();
  await writeFile(
    '/tmp/scratch-fleet.json',
    JSON.stringify(
      {
        inv,
        dir: fleet.dir,
        nodes: fleet.nodes.map((n) => ({
          name: n.name,
          host: n.host,
          keyDir: n.keyDir,
          config: n.config,
          reload: n.reload,
        })),
      },
      null,
      1,
    ),
  );
  await new Promise((r) => setTimeout(r, 1_500_000));
  await fleet.stop();
}, 1_600_000);
