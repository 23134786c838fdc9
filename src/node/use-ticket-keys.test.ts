import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { OperationError } from '../errors.js';
import { makeCertificate, type TestCertificate } from '../probe/tls-servers.fixture.js';
import {
  atomicWrite,
  closeServer,
  handshake,
  serve,
  switchKey,
  waitUntil,
  type Served,
  type Version,
} from './tls-client.fixture.js';
import { useTicketKeys, type TicketKeyWatch } from './use-ticket-keys.js';

const versions: Version[] = ['TLSv1.2', 'TLSv1.3'];
let root = '';
let cert: TestCertificate;
let opened: { served: Served; watch: TicketKeyWatch | undefined }[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'stek-use-keys-'));
  cert = makeCertificate(root, 'node');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(opened.map((o) => closeServer(o.served.server)));
  opened = [];
});

function newKeyDir(): string {
  return mkdtempSync(join(root, 'keys-'));
}

async function start(
  keyDir: string,
  opts: Partial<Parameters<typeof useTicketKeys>[1]> = {},
): Promise<{ port: number; watch: TicketKeyWatch; served: Served }> {
  const served = await serve(cert);
  const watch = useTicketKeys(served.server, { keyDir, ...opts });
  opened.push({ served, watch });
  return { port: served.port, watch, served };
}

describe('useTicketKeys', () => {
  it('loads the managed key at start: two servers resume each other in TLS 1.2 and 1.3', async () => {
    const dir = newKeyDir();
    const id = await switchKey(dir, randomBytes(48));
    const onKey = vi.fn();
    const a = await start(dir, { onKey });
    const b = await start(dir);
    expect(a.watch.keyId).toBe(id);
    expect(onKey).toHaveBeenCalledWith({ keyId: id, file: join(dir, `${id}.key`) });
    for (const v of versions) {
      const full = await handshake(a.port, v);
      expect(full.reused).toBe(false);
      expect(full.ticketKeyId).toBe(id);
      expect((await handshake(b.port, v, full.session)).reused).toBe(true);
    }
  });

  it('picks up a key switched by rename without a restart, in every server', async () => {
    const dir = newKeyDir();
    const first = await switchKey(dir, randomBytes(48));
    // No poll within the test's deadline: only the directory watch can see the switch.
    const a = await start(dir, { pollIntervalMs: 600_000 });
    const b = await start(dir, { pollIntervalMs: 600_000 });
    const before = await handshake(a.port, 'TLSv1.3');
    expect(before.ticketKeyId).toBe(first);

    const second = await switchKey(dir, randomBytes(48));
    await waitUntil('both servers use the new key', 10_000, () =>
      [a, b].every((s) => s.watch.keyId === second),
    );
    for (const v of versions) {
      const full = await handshake(a.port, v);
      expect(full.ticketKeyId).toBe(second);
      expect((await handshake(b.port, v, full.session)).reused).toBe(true);
    }
    // One key only: a ticket under the previous key falls back to a full handshake.
    expect((await handshake(b.port, 'TLSv1.3', before.session)).reused).toBe(false);
  });

  it('polls for changes the directory watch cannot see (a key file outside keyDir)', async () => {
    const dir = newKeyDir();
    const elsewhere = newKeyDir();
    const file = join(elsewhere, 'shared.key');
    const key1 = randomBytes(48);
    writeFileSync(file, key1, { mode: 0o600 });
    writeFileSync(join(dir, 'tickets.conf'), `key ${file}\n`);
    const a = await start(dir, { pollIntervalMs: 100 });
    expect(a.watch.keyId).toBe(key1.subarray(0, 16).toString('hex'));
    const key2 = randomBytes(48);
    await atomicWrite(file, key2);
    const id2 = key2.subarray(0, 16).toString('hex');
    await waitUntil('the polled key', 10_000, () => a.watch.keyId === id2);
    expect((await handshake(a.port, 'TLSv1.2')).ticketKeyId).toBe(id2);
  });

  it('keeps the key it has when the managed file names a bad key, says why, and recovers', async () => {
    const dir = newKeyDir();
    const key = randomBytes(48);
    const good = await switchKey(dir, key);
    const errors: OperationError[] = [];
    const a = await start(dir, { onError: (e) => errors.push(e) });
    const ticket = await handshake(a.port, 'TLSv1.2');

    const short = randomBytes(47);
    await atomicWrite(join(dir, 'short.key'), short);
    await atomicWrite(join(dir, 'tickets.conf'), `key ${join(dir, 'short.key')}\n`);
    await waitUntil('an error', 10_000, () => errors.length > 0);
    expect(errors[0]).toBeInstanceOf(OperationError);
    expect(errors[0]?.message).toMatch(
      /short\.key is 47 bytes; Node\.js takes exactly one 48-byte key/,
    );
    expect(a.watch.keyId).toBe(good);
    expect(a.watch.lastError).toBe(errors[0]);
    expect((await handshake(a.port, 'TLSv1.2', ticket.session)).reused).toBe(true);

    await atomicWrite(join(dir, 'tickets.conf'), `key ${join(dir, 'missing.key')}\n`);
    await waitUntil('a second error', 10_000, () => errors.length > 1);
    expect(errors[1]?.message).toMatch(/cannot read key file .*missing\.key.*ENOENT/);

    const next = await switchKey(dir, randomBytes(48));
    await waitUntil('recovery', 10_000, () => a.watch.keyId === next);
    expect(a.watch.lastError).toBeUndefined();
    for (const e of errors) {
      for (const secret of [key, short]) {
        expect(e.message).not.toContain(secret.subarray(16).toString('hex'));
        expect(e.message).not.toContain(secret.toString('base64').slice(24, 44));
      }
    }
  });

  it('starts without a key, serving with its own, and takes the first key stekctl writes', async () => {
    const dir = newKeyDir();
    writeFileSync(join(dir, 'tickets.conf'), '');
    const onError = vi.fn();
    const a = await start(dir, { onError });
    expect(a.watch.keyId).toBeUndefined();
    expect(onError.mock.calls[0]?.[0].message).toMatch(
      /names no key yet; the server keeps Node's own random key/,
    );
    const id = await switchKey(dir, randomBytes(48));
    await waitUntil('the first key', 10_000, () => a.watch.keyId === id);
  });

  it('with required, refuses to start without a usable key', async () => {
    const served = await serve(cert);
    opened.push({ served, watch: undefined });
    const dir = join(root, 'nowhere');
    expect(() => useTicketKeys(served.server, { keyDir: dir, required: true })).toThrow(
      OperationError,
    );
    expect(() => useTicketKeys(served.server, { keyDir: '' })).toThrow(/keyDir/);
  });

  it('watches a key directory that appears after start', async () => {
    const dir = join(newKeyDir(), 'later');
    const a = await start(dir, { pollIntervalMs: 100 });
    expect(a.watch.lastError?.message).toMatch(/does not exist/);
    mkdirSync(dir, { mode: 0o700 });
    const id = await switchKey(dir, randomBytes(48));
    await waitUntil('the key in the new directory', 10_000, () => a.watch.keyId === id);
  });

  it('puts the managed key back when something replaces it before listening (Node cluster)', async () => {
    const dir = newKeyDir();
    const id = await switchKey(dir, randomBytes(48));
    const served = await serve(cert);
    await closeServer(served.server);
    const watch = useTicketKeys(served.server, { keyDir: dir, pollIntervalMs: 600_000 });
    // What a cluster worker's listen() does: the keys the first worker had, set by the primary.
    served.server.setTicketKeys(randomBytes(48));
    await new Promise<void>((resolve) => served.server.listen(0, '127.0.0.1', resolve));
    opened.push({ served, watch });
    expect(served.server.getTicketKeys().subarray(0, 16).toString('hex')).toBe(id);
    const port = (served.server.address() as { port: number }).port;
    expect((await handshake(port, 'TLSv1.3')).ticketKeyId).toBe(id);
  });

  it('stops with the server, and never calls setTicketKeys afterwards', async () => {
    const dir = newKeyDir();
    await switchKey(dir, randomBytes(48));
    const served = await serve(cert);
    const set = vi.spyOn(served.server, 'setTicketKeys');
    const watch = useTicketKeys(served.server, { keyDir: dir, pollIntervalMs: 50 });
    expect(set).toHaveBeenCalledTimes(1);
    await closeServer(served.server);
    expect(watch.closed).toBe(true);
    await switchKey(dir, randomBytes(48));
    await new Promise((r) => setTimeout(r, 300));
    expect(set).toHaveBeenCalledTimes(1);
    expect(await watch.refresh()).not.toBeUndefined();
    expect(set).toHaveBeenCalledTimes(1);
  });

  it('a callback that throws does not stop the watch', async () => {
    const dir = newKeyDir();
    await switchKey(dir, randomBytes(48));
    const errors: string[] = [];
    const a = await start(dir, {
      onKey: () => {
        throw new Error('boom');
      },
      onError: (e) => errors.push(e.message),
    });
    const id = await switchKey(dir, randomBytes(48));
    await waitUntil('the next key', 10_000, () => a.watch.keyId === id);
    expect(errors.some((m) => m.includes('callback failed: boom'))).toBe(true);
  });
});
