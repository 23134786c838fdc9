import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsVersion } from '../inventory/types.js';
import { ProbeError } from './probe-error.js';
import {
  findClosedPort,
  keyIdOf,
  makeCertificate,
  makeTarget,
  startSilentServer,
  startTlsServer,
  type TestCertificate,
  type TestServer,
} from './tls-servers.fixture.js';
import { offerTicket, takeTicket } from './tls-probe.js';

const versions: TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];
let dir: string;
let certA: TestCertificate;
let certB: TestCertificate;
const shared = randomBytes(48);
const other = randomBytes(48);
const servers: TestServer[] = [];
let a: TestServer;
let b: TestServer;
let c: TestServer;
/** A peer of a on another address, as pool nodes are. */
let far: TestServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stekctl-probe-'));
  certA = makeCertificate(dir, 'a');
  certB = makeCertificate(dir, 'b');
  a = await startTlsServer(certA, { ticketKeys: shared });
  b = await startTlsServer(certA, { ticketKeys: shared });
  c = await startTlsServer(certA, { ticketKeys: other });
  far = await startTlsServer(certA, { ticketKeys: shared, host: '127.0.0.2' });
  servers.push(a, b, c, far);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe.each(versions)('%s', (version) => {
  it('takes a ticket named by the first 16 bytes of the key and resumes it on a peer', async () => {
    const sample = await takeTicket(makeTarget('a', a.port), version);
    expect(sample.keyId).toBe(keyIdOf(shared));
    expect(sample.session).toBeInstanceOf(Buffer);
    expect(sample.ticketLifetimeHint).toBeGreaterThan(0);
    const openssl = execFileSync(
      'openssl',
      ['x509', '-noout', '-fingerprint', '-sha256', '-in', certA.certPath],
      {
        encoding: 'utf8',
      },
    );
    expect(openssl.trim().split('=')[1]).toBe(sample.certFingerprint);

    const atPeer = await offerTicket(makeTarget('b', b.port), version, sample);
    expect(atPeer).toMatchObject({
      reused: true,
      from: 'a',
      node: 'b',
      offeredKeyId: keyIdOf(shared),
    });
    expect(atPeer.certFingerprint).toBeUndefined();
    // A resumption re-issues a ticket only if the server chooses to; if it does, under its key.
    expect([undefined, keyIdOf(shared)]).toContain(atPeer.keyId);
  });

  it('does not resume under a different key and names the key the node uses', async () => {
    const sample = await takeTicket(makeTarget('a', a.port), version);
    const result = await offerTicket(makeTarget('c', c.port), version, sample);
    expect(result.reused).toBe(false);
    expect(result.keyId).toBe(keyIdOf(other));
    expect(result.certFingerprint).toBe(sample.certFingerprint);
  });
});

// Node 22.23 and 24.17 bind a session to the identity it was taken from (servername, else host)
// and drop it on a connection to another: the offers must still reach the peer.
describe.each(versions)('%s, a peer at another address', (version) => {
  const atFar = (extra = {}) => makeTarget('far', far.port, { host: '127.0.0.2', ...extra });

  it('resumes a ticket taken from 127.0.0.1 on 127.0.0.2', async () => {
    const sample = await takeTicket(makeTarget('a', a.port), version);
    expect(await offerTicket(atFar(), version, sample)).toMatchObject({ reused: true });
  });

  it('with probe.ca, by a servername the pool shares or by address alone', async () => {
    const named = { ca: certA.certPath, servername: 'localhost' };
    const sample = await takeTicket(makeTarget('a', a.port, named), version);
    expect(await offerTicket(atFar(named), version, sample)).toMatchObject({ reused: true });
    const byAddress = await takeTicket(makeTarget('a', a.port, { ca: certA.certPath }), version);
    const offered = await offerTicket(atFar({ ca: certA.certPath }), version, byAddress);
    expect(offered).toMatchObject({ reused: true });
  });
});

describe('certificate verification', () => {
  it('verifies chain and name against probe.ca', async () => {
    const ok = await takeTicket(
      makeTarget('a', a.port, { ca: certA.certPath, servername: 'localhost' }),
      'TLSv1.3',
    );
    expect(ok.keyId).toBe(keyIdOf(shared));
    const noSni = await takeTicket(makeTarget('a', a.port, { ca: certA.certPath }), 'TLSv1.2');
    expect(noSni.keyId).toBe(keyIdOf(shared));
  });

  it('rejects an untrusted chain or a wrong name', async () => {
    const untrusted = takeTicket(makeTarget('a', a.port, { ca: certB.certPath }), 'TLSv1.3');
    await expect(untrusted).rejects.toMatchObject({ code: 'untrusted-certificate', node: 'a' });
    const wrongName = takeTicket(
      makeTarget('a', a.port, { ca: certA.certPath, servername: 'other.example' }),
      'TLSv1.2',
    );
    await expect(wrongName).rejects.toMatchObject({ code: 'untrusted-certificate' });
  });
});

describe('failures', () => {
  it('times out on a server that never answers', async () => {
    const silent = await startSilentServer();
    const started = Date.now();
    const err = await takeTicket(makeTarget('s', silent.port, { timeoutMs: 300 }), 'TLSv1.3').catch(
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(err).toBeInstanceOf(ProbeError);
    expect(err).toMatchObject({ code: 'timeout', node: 's' });
    await silent.close();
  });

  it('reports a server that hangs up before the handshake as a TLS error, never "not resumed"', async () => {
    const closing = await startSilentServer({ hangUp: true });
    const target = makeTarget('h', closing.port);
    const message = /connection closed before the TLS handshake completed/;
    await expect(takeTicket(target, 'TLSv1.3')).rejects.toMatchObject({
      code: 'tls-error',
      message,
    });
    const sample = await takeTicket(makeTarget('a', a.port), 'TLSv1.3');
    await expect(offerTicket(target, 'TLSv1.3', sample)).rejects.toMatchObject({
      code: 'tls-error',
      message,
    });
    await closing.close();
  });

  it('reports a refused connection as unreachable', async () => {
    const port = await findClosedPort();
    await expect(takeTicket(makeTarget('x', port), 'TLSv1.2')).rejects.toMatchObject({
      code: 'unreachable',
    });
  });

  it('stops at once when aborted', async () => {
    const silent = await startSilentServer();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const run = takeTicket(makeTarget('s', silent.port, { timeoutMs: 5000 }), 'TLSv1.2', {
      signal: controller.signal,
    });
    await expect(run).rejects.toMatchObject({ code: 'timeout' });
    // Well short of the 5 s timeout it would otherwise wait for.
    expect(Date.now() - started).toBeLessThan(3000);
    await silent.close();
  });

  it('refuses to offer a sample without a ticket', async () => {
    const sample = await takeTicket(makeTarget('a', a.port), 'TLSv1.2');
    const empty = { ...sample, session: undefined };
    await expect(offerTicket(makeTarget('b', b.port), 'TLSv1.2', empty)).rejects.toMatchObject({
      code: 'no-ticket',
    });
  });
});
