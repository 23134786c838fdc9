import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from './fleet/index.js';
import { runCli } from './cli.js';

describe('stekctl keygen', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stekctl-keygen-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a key file 0600, refuses to overwrite it without --force, and prints only its id', async () => {
    const file = join(dir, 'ticket.key');
    const first = await runCli(['keygen', '-o', file]);
    expect(first.code).toBe(0);
    const key = await readFile(file);
    expect(key.length).toBe(48);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(first.stderr).toContain(key.subarray(0, 16).toString('hex'));
    expect(first.stderr).not.toContain(key.subarray(16).toString('hex'));
    const again = await runCli(['keygen', '-o', file]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/exists/);
    expect(await readFile(file)).toEqual(key);
    const forced = await runCli(['keygen', '-o', file, '--force', '--size', '80']);
    expect(forced.code).toBe(0);
    expect((await readFile(file)).length).toBe(80);
    const bad = await runCli(['keygen', '--size', '64', '-o', join(dir, 'x')]);
    expect(bad.code).toBe(2);
  });

  it('writes raw bytes to a pipe, the equivalent of openssl rand 48', async () => {
    const res = await runCli(['keygen']);
    expect(res.code).toBe(0);
    expect(Buffer.byteLength(res.stdout, 'latin1')).toBeGreaterThan(0);
  });
});

describe('stekctl rollback', () => {
  let fleet: Fleet;
  let inventory: string;
  beforeAll(async () => {
    fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 2 }] });
    inventory = await fleet.writeInventory();
  });
  afterAll(async () => {
    await fleet?.stop();
  });

  const ring = async (): Promise<string[]> => {
    const res = await runCli(['status', '-i', inventory, '--json']);
    return (JSON.parse(res.stdout) as { pools: { ring: string[] }[] }).pools[0]!.ring;
  };

  it('refuses when there is nothing to roll back to, and says why', async () => {
    expect((await runCli(['rotate', '-i', inventory, '--yes'])).code).toBe(0);
    const res = await runCli(['rollback', '-i', inventory, '--yes']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/nothing to roll back to|no longer retained/);
    expect(res.stderr).toContain('nothing was changed');
  });

  it('returns to the ring before the last rotation, and refuses once its key is gone', async () => {
    const before = await ring();
    expect((await runCli(['rotate', '-i', inventory, '--yes'])).code).toBe(0);
    expect(await ring()).not.toEqual(before);
    const dry = await runCli(['rollback', '-i', inventory, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(await ring()).not.toEqual(before);
    const res = await runCli(['rollback', '-i', inventory, '--yes']);
    expect(res.code, res.stderr).toBe(0);
    expect(await ring()).toEqual(before);
    // A rollback leaves nothing for a second one to undo, and that is what it says.
    const again = await runCli(['rollback', '-i', inventory, '--yes']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/the last change was a rollback \(.+\); there is nothing to undo/);
    expect(again.stderr).toContain(`rotate forward with \`stekctl rotate -i ${inventory} -p web\``);
    expect(await ring()).toEqual(before);
    // Rotate twice with retain 0: the key before the last rotation is deleted everywhere.
    const inv0 = await fleet.writeInventory({
      path: `${fleet.dir}/retain0.yaml`,
      poolOverrides: { web: { retain: 0 } },
    });
    expect((await runCli(['rotate', '-i', inv0, '--yes'])).code).toBe(0);
    const refused = await runCli(['rollback', '-i', inv0, '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no longer retained/);
  });

  it('records only the keys still on each node, and names a recorded key it cannot restore', async () => {
    /** Key ids recorded in stekctl.json and key ids of the key files, per node. */
    const records = async (): Promise<{ recorded: string[]; onDisk: string[] }[]> =>
      Promise.all(
        fleet.nodes.map(async (n) => {
          const m = JSON.parse(await readFile(`${n.keyDir}/stekctl.json`, 'utf8')) as {
            keys: Record<string, unknown>;
          };
          const files = (await readdir(n.keyDir)).filter((f) => f.endsWith('.key'));
          return {
            recorded: Object.keys(m.keys).sort(),
            onDisk: files.map((f) => f.slice(0, -'.key'.length)).sort(),
          };
        }),
      );
    for (let i = 0; i < 3; i += 1)
      expect((await runCli(['rotate', '-i', inventory, '--yes', '--quiet'])).code).toBe(0);
    for (const r of await records()) {
      expect(r.onDisk).toHaveLength(2);
      expect(r.recorded).toEqual(r.onDisk);
    }
    // The ring before the last rotation held a key that its retire deleted (retain 1).
    const [, , lost] = await ring().then(async (now) => {
      const m = JSON.parse(await readFile(`${fleet.nodes[0]!.keyDir}/stekctl.json`, 'utf8')) as {
        previousRing: string[];
      };
      return [now, m.previousRing[0], m.previousRing[1]];
    });
    const res = await runCli(['rollback', '-i', inventory, '--yes']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(
      `not restored, as no longer kept on every node: ${lost?.slice(0, 12)}`,
    );
    for (const r of await records()) expect(r.recorded).toEqual(r.onDisk);
  });
});
