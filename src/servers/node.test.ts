import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSpec } from '../inventory/types.js';
import { parseInventory } from '../inventory/parse-inventory.js';
import { serverDefaults } from '../inventory/server-defaults.js';
import { useTicketKeys } from '../node/use-ticket-keys.js';
import { waitUntil } from '../node/tls-client.fixture.js';
import { buildApplyScript, parseApplyOutput } from './apply-script.js';
import { adapterFor } from './index.js';
import { interpretState } from './node-state.js';
import { parseReadOutput } from './parse-state.js';
import { buildReadScript } from './read-script.js';
import { applySpec, localNodeSpec } from './node-spec.fixture.js';

let dir: string;
const adapter = adapterFor('node');

function nodeFor(keyDir: string, check = 'true'): NodeSpec {
  return localNodeSpec(keyDir, { config: keyDir, check });
}

function sh(
  script: string,
  stdin?: string,
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile('sh', ['-c', script], (err, stdout, stderr) =>
      resolve({ stdout, stderr, code: err ? Number(err.code ?? 1) : 0 }),
    );
    child.stdin?.end(stdin ?? '');
  });
}

async function keyDirWith(
  name: string,
  keys: Buffer[],
  conf: (d: string) => string,
): Promise<string> {
  const keyDir = join(dir, name);
  await mkdir(keyDir, { mode: 0o700 });
  await chmod(keyDir, 0o700);
  for (const k of keys)
    await writeFile(join(keyDir, `${k.subarray(0, 16).toString('hex')}.key`), k, { mode: 0o600 });
  await writeFile(join(keyDir, 'tickets.conf'), conf(keyDir), { mode: 0o600 });
  return keyDir;
}

const idOf = (k: Buffer): string => k.subarray(0, 16).toString('hex');

async function read(node: NodeSpec) {
  const { stdout } = await sh(buildReadScript(adapter, node, { runCheck: true }));
  return {
    stdout,
    state: interpretState(adapter, node, parseReadOutput(stdout), Date.now() / 1000),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stekctl-node-adapter-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the Node.js adapter', () => {
  it('has defaults that need no reload and no config test', () => {
    expect(serverDefaults.node).toMatchObject({ reload: 'true', check: 'true' });
    expect(adapter).toMatchObject({ keySizes: [48], keyLayout: 'node', decryptOnly: false });
    expect(adapter.renderManaged(nodeFor('/k'), undefined)).toEqual({ kind: 'text', text: '' });
    expect(adapter.includeLine(nodeFor('/k'))).toContain("useTicketKeys(server, { keyDir: '/k' })");
  });

  it('is a pool kind of the inventory: 48-byte keys by default, 80 refused', () => {
    const text = (extra: string) =>
      `pools:\n  api:\n    server: node\n${extra}    nodes:\n      - host: api1\n`;
    const pool = parseInventory(text(''), '/inv.yaml').pools[0];
    expect(pool).toMatchObject({ server: 'node', keySize: 48 });
    expect(pool?.nodes[0]).toMatchObject({ keyDir: '/etc/stekctl/node-tickets', reload: 'true' });
    expect(() => parseInventory(text('    keySize: 80\n'), '/inv.yaml')).toThrow(
      /node supports only 48-byte ticket keys/,
    );
  });

  it('reads the one key the managed file names, never its bytes, and counts the file as included', async () => {
    const key = randomBytes(48);
    const keyDir = await keyDirWith('one', [key], (d) => `key ${d}/${idOf(key)}.key\n`);
    const { stdout, state } = await read(nodeFor(keyDir));
    expect(stdout).not.toContain(key.subarray(16).toString('hex'));
    expect(stdout).not.toContain(key.toString('base64').slice(24, 44));
    expect(state.ring.map((e) => [e.keyId, e.role, e.problem])).toEqual([
      [idOf(key), 'encrypt', undefined],
    ]);
    expect(state.included).toBe(true);
    expect(state.foreignKeys).toEqual([]);
    expect(state.problems).toEqual([]);
    expect(state.ticketLifetime).toBe('300');
  });

  it('names an 80-byte key and a second key line as problems', async () => {
    const long = randomBytes(80);
    const other = randomBytes(48);
    const keyDir = await keyDirWith(
      'bad',
      [long, other],
      (d) => `key ${d}/${idOf(long)}.key\nkey ${d}/${idOf(other)}.key\n`,
    );
    const { state } = await read(nodeFor(keyDir));
    expect(state.ring).toHaveLength(1);
    expect(state.ring[0]?.problem).toMatch(/names 2 keys; Node\.js uses only the first/);
    expect(state.ring[0]?.problem).toMatch(/80-byte key; Node\.js takes 48-byte keys only/);
  });

  it('switches a running server through the node-side transaction, and a failed check puts it back', async () => {
    const old = randomBytes(48);
    const keyDir = await keyDirWith('live', [old], (d) => `key ${d}/${idOf(old)}.key\n`);
    const server = createServer({ sessionIdContext: 'x' });
    const watch = useTicketKeys(server, { keyDir, pollIntervalMs: 600_000 });
    try {
      expect(watch.keyId).toBe(idOf(old));
      const next = randomBytes(48);
      const file = `${idOf(next)}.key`;
      const ring = {
        encrypt: { keyId: idOf(next), path: `${keyDir}/${file}` },
        decrypt: [],
        staged: undefined,
      };
      const spec = applySpec({
        newKeys: [{ file, size: 48 }],
        managed: adapter.renderManaged(nodeFor(keyDir), ring),
      });
      const res = await sh(
        buildApplyScript(adapter, nodeFor(keyDir), spec),
        `${next.toString('base64')}\n`,
      );
      const outcome = parseApplyOutput(res.stdout, res.stderr, res.code);
      expect(outcome).toMatchObject({ ok: true, generationChanged: undefined });
      expect(await readFile(join(keyDir, 'tickets.conf'), 'utf8')).toContain(
        `key ${keyDir}/${file}`,
      );
      await waitUntil('the switched key', 10_000, () => watch.keyId === idOf(next));

      const third = randomBytes(48);
      const thirdFile = `${idOf(third)}.key`;
      const failing = applySpec({
        newKeys: [{ file: thirdFile, size: 48 }],
        managed: adapter.renderManaged(nodeFor(keyDir), {
          encrypt: { keyId: idOf(third), path: `${keyDir}/${thirdFile}` },
          decrypt: [],
          staged: undefined,
        }),
      });
      const bad = await sh(
        buildApplyScript(adapter, nodeFor(keyDir, 'sleep 0.3; false'), failing),
        `${third.toString('base64')}\n`,
      );
      expect(parseApplyOutput(bad.stdout, bad.stderr, bad.code)).toMatchObject({
        ok: false,
        step: 'check',
        restored: true,
      });
      // The server may have seen the new file for a moment; it ends on the restored key.
      await waitUntil('the restored key', 10_000, () => watch.keyId === idOf(next));
      await watch.refresh();
      expect(watch.keyId).toBe(idOf(next));
    } finally {
      watch.close();
    }
  });
});
