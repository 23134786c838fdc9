import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsVersion } from '../inventory/types.js';
import {
  checkTicketsRejected,
  checkTicketsResume,
  confirmKeyEverywhere,
  takeTickets,
} from './rotation-checks.js';
import {
  findClosedPort,
  keyIdOf,
  makeCertificate,
  makeTarget,
  startTlsServer,
  type TestCertificate,
  type TestServer,
} from './tls-servers.fixture.js';
import type { ProbeTarget } from './probe-target.js';
import { openSshProber, type SshProber } from './ssh-probe.js';
import { localSession } from './ssh-probe-session.fixture.js';
import type { Prober } from './verify-pool.js';

const versions: TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];
let dir: string;
let cert: TestCertificate;
const servers: TestServer[] = [];

async function pool(
  keys: Buffer,
  n: number,
): Promise<{ servers: TestServer[]; targets: ProbeTarget[] }> {
  const started: TestServer[] = [];
  for (let i = 0; i < n; i++) started.push(await startTlsServer(cert, { ticketKeys: keys }));
  servers.push(...started);
  return { servers: started, targets: started.map((s, i) => makeTarget(`n${i + 1}`, s.port)) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stekctl-rotation-'));
  cert = makeCertificate(dir, 'rotation');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('ticket checks across a key change', () => {
  it('earlier tickets resume everywhere, then are rejected everywhere once their key is gone', async () => {
    const old = randomBytes(48);
    const { servers: nodes, targets } = await pool(old, 3);
    const taken = await takeTickets(targets, versions);
    expect(taken.failures).toEqual([]);
    expect(taken.samples).toHaveLength(6);
    expect(taken.samples.every((s) => s.keyId === keyIdOf(old))).toBe(true);

    const resume = await checkTicketsResume(taken.samples, targets);
    expect(resume.problems).toEqual([]);
    expect(resume.ok).toBe(true);
    // Every node receives one ticket per version, issued by another node.
    expect(resume.offers).toHaveLength(6);
    for (const v of versions) {
      const offers = resume.offers.filter((o) => o.version === v);
      expect(offers.map((o) => o.to).sort()).toEqual(targets.map((t) => t.node).sort());
      expect(offers.every((o) => o.from !== o.to)).toBe(true);
    }

    const next = randomBytes(48);
    for (const s of nodes) s.server.setTicketKeys(next);
    const rejected = await checkTicketsRejected(taken.samples, targets);
    expect(rejected.ok).toBe(true);
    const stale = await checkTicketsResume(taken.samples, targets);
    expect(stale.ok).toBe(false);
    expect(stale.problems[0]).toContain(keyIdOf(old));
  });

  it('counts a node that cannot be reached against the rejection check', async () => {
    const { targets } = await pool(randomBytes(48), 1);
    const taken = await takeTickets(targets, ['TLSv1.3']);
    const gone = makeTarget('gone', await findClosedPort());
    const rejected = await checkTicketsRejected(taken.samples, [...targets, gone]);
    expect(rejected.ok).toBe(false);
    expect(rejected.problems.join('\n')).toMatch(/gone/);
  });
});

describe('confirmKeyEverywhere', () => {
  it('waits until every node encrypts with the new key', async () => {
    const old = randomBytes(48);
    const next = randomBytes(48);
    const { servers: nodes, targets } = await pool(old, 2);
    setTimeout(() => nodes[0]?.server.setTicketKeys(next), 150);
    setTimeout(() => nodes[1]?.server.setTicketKeys(next), 400);
    const started = Date.now();
    const result = await confirmKeyEverywhere(targets, versions, keyIdOf(next), 10_000, {
      intervalMs: 50,
    });
    expect(result.ok).toBe(true);
    // Returns once both switched, not at the deadline.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.nodes.every((n) => n.keyId === keyIdOf(next) && n.confirmed)).toBe(true);
    expect(result.nodes.find((n) => n.node === 'n2')?.attempts).toBeGreaterThan(1);
  });

  it('gives up at the deadline and names the key each node still uses', async () => {
    const old = randomBytes(48);
    const next = randomBytes(48);
    const { servers: nodes, targets } = await pool(old, 2);
    nodes[0]?.server.setTicketKeys(next);
    const started = Date.now();
    const result = await confirmKeyEverywhere(targets, ['TLSv1.3'], keyIdOf(next), 500, {
      intervalMs: 50,
      confirmations: 2,
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result.ok).toBe(false);
    expect(result.nodes).toMatchObject([
      { node: 'n1', keyId: keyIdOf(next), confirmed: true },
      { node: 'n2', keyId: keyIdOf(old), confirmed: false },
    ]);
  });
});

describe('the checks through a prober that keeps the sessions (openssl over SSH)', () => {
  let ssh: SshProber;
  beforeAll(async () => {
    ssh = await openSshProber(localSession());
  });
  afterAll(async () => {
    await ssh?.close();
  });

  it('take, confirm, resume and reject tickets that hold no session here', async () => {
    const old = randomBytes(48);
    const next = randomBytes(48);
    const { servers: nodes, targets } = await pool(old, 2);
    const taken = await takeTickets(targets, versions, { prober: ssh });
    expect(taken.failures).toEqual([]);
    expect(taken.samples).toHaveLength(4);
    for (const s of taken.samples) {
      expect(s.session).toBeUndefined();
      expect(s.keyId).toBe(keyIdOf(old));
    }

    const resume = await checkTicketsResume(taken.samples, targets, { prober: ssh });
    expect(resume.problems).toEqual([]);
    expect(resume.offers).toHaveLength(4);
    expect(resume.ok).toBe(true);

    for (const s of nodes) s.server.setTicketKeys(next);
    const confirmed = await confirmKeyEverywhere(targets, versions, keyIdOf(next), 10_000, {
      prober: ssh,
      intervalMs: 50,
    });
    expect(confirmed.ok).toBe(true);
    const rejected = await checkTicketsRejected(taken.samples, targets, { prober: ssh });
    expect(rejected.problems).toEqual([]);
    expect(rejected.ok).toBe(true);
    // Some thirty openssl runs over SSH: seconds on a loaded machine.
  }, 20_000);

  it('offer a ticket only through the prober that took it', async () => {
    const { targets } = await pool(randomBytes(48), 1);
    const taken = await takeTickets(targets, ['TLSv1.3'], { prober: ssh });
    const direct = await checkTicketsResume(taken.samples, targets);
    expect(direct.ok).toBe(false);
    expect(direct.problems[0]).toMatch(/could not be offered/);
  });
});

describe('samples without a ticket', () => {
  it('are named as problems and never offered', async () => {
    const offered: string[] = [];
    const prober: Prober = {
      takeTicket: () => Promise.reject(new Error('not used')),
      offerTicket: (target, version, sample) => {
        offered.push(`${sample.node}>${target.node}`);
        return Promise.resolve({
          node: target.node,
          from: sample.node,
          version,
          reused: true,
          offeredKeyId: sample.keyId,
          keyId: undefined,
          certFingerprint: undefined,
        });
      },
    };
    const targets = [makeTarget('a', 1), makeTarget('b', 2)];
    const sample = (node: string, keyId: string | undefined) => ({
      node,
      version: 'TLSv1.3' as const,
      keyId,
      certFingerprint: '',
      session: undefined,
      takenAt: Date.now(),
    });
    const check = await checkTicketsResume(
      [sample('a', 'aa'.repeat(16)), sample('b', undefined)],
      targets,
      {
        prober,
      },
    );
    expect(offered.sort()).toEqual(['a>a', 'a>b']);
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual(['b had no TLSv1.3 ticket to check']);
  });
});
