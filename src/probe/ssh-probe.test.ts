import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProbeError } from './probe-error.js';
import { createUnreachableProber, openSshProber, type SshProber } from './ssh-probe.js';
import { parseClientReport, splitSections } from './ssh-probe-output.js';
import { localSession } from './ssh-probe-session.fixture.js';
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
import { takeTicket } from './tls-probe.js';
import { probePool } from './verify-pool.js';

let dir: string;
let cert: TestCertificate;
let otherCert: TestCertificate;
let prober: SshProber;
const servers: { close(): Promise<void> }[] = [];
const k1 = randomBytes(48);
const k2 = randomBytes(48);

async function serve(c: TestCertificate, ticketKeys: Buffer): Promise<TestServer> {
  const s = await startTlsServer(c, { ticketKeys });
  servers.push(s);
  return s;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stekctl-sshprobe-'));
  cert = makeCertificate(dir, 'pool');
  otherCert = makeCertificate(dir, 'other');
  prober = await openSshProber(localSession());
});

afterAll(async () => {
  await prober?.close();
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('parseClientReport', () => {
  it('reads the verdict, the fingerprint and the ticket from the tagged lines', () => {
    const r = parseClientReport(
      [
        'rc 0',
        'handshake Reused, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384',
        `cert ${'70894763'.repeat(8)}`,
        'hint 300',
        'ticket     0000 - 56 3b 2e 92 48 f1 2f 6f-49 02 3a ce ca 5a 63 6c   V;..H./oI.:..Zcl',
        'ticket     0010 - 87 0b                                             ..',
        'err 80FB8CBBAD7F0000:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:../ssl/record/rec_layer_s3.c:1605:',
      ].join('\n'),
    );
    expect(r.exitCode).toBe(0);
    expect(r.handshake).toMatch(/^Reused, TLSv1\.3/);
    expect(r.certFingerprint).toBe(Array(8).fill('70:89:47:63').join(':'));
    expect(r.lifetimeHint).toBe(300);
    expect(r.ticket?.toString('hex')).toBe(
      '563b2e9248f12f6f49023ace ca5a636c870b'.replace(' ', ''),
    );
    expect(r.errors).toHaveLength(1);
  });

  it('splits a batch into the sections of its handshakes', () => {
    const sections = splitSections('@ s1.pem\nrc 0\nhandshake New\n@ s2.pem\n@ s3.pem\nrc 124\n');
    expect([...sections.keys()]).toEqual(['s1.pem', 's2.pem', 's3.pem']);
    expect(parseClientReport(sections.get('s1.pem') ?? '').handshake).toBe('New');
    expect(parseClientReport(sections.get('s2.pem') ?? '').exitCode).toBeUndefined();
    expect(parseClientReport(sections.get('s3.pem') ?? '').exitCode).toBe(124);
  });
});

describe('openSshProber', () => {
  it('takes tickets with s_client and reads their key ids from the dump', async () => {
    const a = await serve(cert, k1);
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const sample = await prober.takeTicket(makeTarget('a', a.port), version, {});
      expect(sample.keyId).toBe(keyIdOf(k1));
      expect(sample.session).toBeUndefined();
      const direct = await takeTicket(makeTarget('a', a.port), version);
      expect(sample.certFingerprint).toBe(direct.certFingerprint);
      expect(sample.ticketLifetimeHint).toBe(direct.ticketLifetimeHint);
    }
  });

  it('resumes a ticket where the key is shared, and names the other key where it is not', async () => {
    const [a, b, c] = [await serve(cert, k1), await serve(cert, k1), await serve(cert, k2)];
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const sample = await prober.takeTicket(makeTarget('a', a.port), version, {});
      const same = await prober.offerTicket(makeTarget('b', b.port), version, sample, {});
      expect(same).toMatchObject({ reused: true, from: 'a', node: 'b', offeredKeyId: keyIdOf(k1) });
      const other = await prober.offerTicket(makeTarget('c', c.port), version, sample, {});
      expect(other.reused).toBe(false);
      expect(other.keyId).toBe(keyIdOf(k2));
    }
  });

  it('gives probePool the same verdicts as direct probes', async () => {
    const [a, b] = [await serve(cert, k1), await serve(otherCert, k1)];
    const targets = [makeTarget('a', a.port), makeTarget('b', b.port)];
    const opts = { versions: ['TLSv1.2', 'TLSv1.3'] as const, matrixMax: 8, deadlineMs: 10_000 };
    const viaSsh = await probePool('web', targets, {
      ...opts,
      versions: [...opts.versions],
      concurrency: 4,
      prober,
    });
    const direct = await probePool('web', targets, {
      ...opts,
      versions: [...opts.versions],
      concurrency: 4,
    });
    const verdicts = (r: typeof direct) =>
      r.offers
        .map((o) => `${o.version} ${o.from}>${o.to} ${o.reused} ${o.diagnoses?.join(',') ?? ''}`)
        .sort();
    expect(verdicts(viaSsh)).toEqual(verdicts(direct));
    expect(viaSsh.nodes.find((n) => n.node === 'b')?.codes).toContain('different-certificates');
    expect(viaSsh.encryptingKeyIds).toEqual([keyIdOf(k1)]);
  });

  it('reports a silent server as timed out and a closed port as unreachable', async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    const started = Date.now();
    const hung = prober.takeTicket(
      makeTarget('s', silent.port, { timeoutMs: 1000 }),
      'TLSv1.3',
      {},
    );
    await expect(hung).rejects.toMatchObject({ code: 'timeout', node: 's' });
    expect(Date.now() - started).toBeLessThan(4000);
    const closed = makeTarget('x', await findClosedPort());
    await expect(prober.takeTicket(closed, 'TLSv1.2', {})).rejects.toMatchObject({
      code: 'unreachable',
    });
  });

  it('ends a probe at once when its signal aborts', async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const probe = prober.takeTicket(makeTarget('s', silent.port, { timeoutMs: 3000 }), 'TLSv1.2', {
      signal: controller.signal,
    });
    await expect(probe).rejects.toBeInstanceOf(ProbeError);
    // Well short of the 3 s timeout it would otherwise wait for.
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('verifies certificates against probe.ca, placed on the probing node', async () => {
    const a = await serve(cert, k1);
    const trusted = makeTarget('a', a.port, { ca: cert.certPath, servername: 'localhost' });
    expect((await prober.takeTicket(trusted, 'TLSv1.3', {})).keyId).toBe(keyIdOf(k1));
    const untrusted = makeTarget('a', a.port, { ca: otherCert.certPath, servername: 'localhost' });
    await expect(prober.takeTicket(untrusted, 'TLSv1.3', {})).rejects.toMatchObject({
      code: 'untrusted-certificate',
    });
  });

  it('brings back no session secrets, and removes its directory on close', async () => {
    const outputs: string[] = [];
    const p = await openSshProber(localSession(outputs));
    const a = await serve(cert, k1);
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const sample = await p.takeTicket(makeTarget('a', a.port), version, {});
      await p.offerTicket(makeTarget('a', a.port), version, sample, {});
    }
    expect(statSync(p.dir).mode & 0o777).toBe(0o700);
    await p.close();
    expect(existsSync(p.dir)).toBe(false);
    const text = outputs.join('\n');
    expect(text).toContain('handshake Reused, TLSv1.3');
    expect(text).not.toMatch(/Master-Key|Resumption PSK|BEGIN SSL SESSION/);
    expect(text).not.toContain(k1.subarray(16).toString('hex'));
  });
});

describe('createUnreachableProber', () => {
  it('fails every probe with the reason', async () => {
    const p = createUnreachableProber('no node of the pool answers over SSH');
    await expect(p.takeTicket(makeTarget('a', 1), 'TLSv1.2', {})).rejects.toMatchObject({
      code: 'unreachable',
      message: 'a: no node of the pool answers over SSH',
    });
  });
});
