import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { askThrough, findSilentTargets, type Ask } from './check-listening.js';
import { failProbeAt, ProbeError } from './probe-error.js';
import type { ProbeTarget } from './probe-target.js';
import type { Prober } from './verify-pool.js';

const servers: Server[] = [];

function listen(port = 0): Promise<number> {
  const server = createServer((socket) => socket.destroy());
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** A port that was free a moment ago. */
async function closedPort(): Promise<number> {
  const port = await listen();
  await new Promise((resolve) => servers.pop()?.close(resolve));
  return port;
}

function target(node: string, port: number): ProbeTarget {
  return { node, host: '127.0.0.1', port, servername: undefined, ca: undefined, timeoutMs: 2000 };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('findSilentTargets', () => {
  it('names only the targets where nothing listens, with the address and the cause', async () => {
    const open = await listen();
    const closed = await closedPort();
    const silent = await findSilentTargets([target('a', open), target('b', closed)], {
      concurrency: 4,
      server: 'nginx',
      retryAfterMs: 10,
    });
    expect(silent).toHaveLength(1);
    expect(silent[0]?.node).toBe('b');
    expect(silent[0]?.reason).toMatch(
      new RegExp(
        `^nothing accepts connections on 127\\.0\\.0\\.1:${closed} \\(connection refused\\): is the TLS server \\(nginx\\) running\\?`,
      ),
    );
  });

  it('asks many targets at once without a listener warning', async () => {
    const port = await listen();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const targets = Array.from({ length: 40 }, (_, i) => target(`n${i}`, port));
      const silent = await findSilentTargets(targets, {
        concurrency: 32,
        server: 'nginx',
        signal: new AbortController().signal,
      });
      expect(silent).toEqual([]);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.message)).toEqual([]);
  });

  it('asks a silent target again: a server that starts meanwhile is not named', async () => {
    const port = await closedPort();
    const checking = findSilentTargets([target('a', port)], {
      concurrency: 1,
      server: 'nginx',
      retryAfterMs: 300,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await listen(port);
    expect(await checking).toEqual([]);
  });

  it('ends at once when aborted, keeping what it found', async () => {
    const port = await closedPort();
    const controller = new AbortController();
    const checking = findSilentTargets([target('a', port)], {
      concurrency: 1,
      server: 'nginx',
      retryAfterMs: 60_000,
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    // Without the abort, the retry's minute-long pause would outlast the test's time limit.
    expect((await checking).map((x) => x.node)).toEqual(['a']);
  });
});

describe('askThrough (probe.via: ssh)', () => {
  /** A prober whose handshakes fail with `errors[node]`, or succeed. */
  function failingProber(errors: Record<string, ProbeError>): Prober {
    return {
      takeTicket: (t, version) => {
        const err = errors[t.node];
        if (err) return Promise.reject(err);
        return Promise.resolve({
          node: t.node,
          version,
          keyId: undefined,
          certFingerprint: '',
          session: undefined,
          takenAt: Date.now(),
        });
      },
      offerTicket: () => Promise.reject(new Error('not used')),
    };
  }

  it('names a node the probing node cannot connect to, or gets no handshake from; not one that fails otherwise, nor all when the probing node is lost', async () => {
    const where = (node: string): string => `${node} (${node}:443, TLSv1.3, probed from p)`;
    const prober = failingProber({
      refused: failProbeAt(
        'unreachable',
        'refused',
        where('refused'),
        'cannot connect: Connection refused',
      ),
      slow: failProbeAt('timeout', 'slow', where('slow'), 'no TLS handshake within 2000 ms'),
      odd: failProbeAt('tls-error', 'odd', where('odd'), 'TLS handshake failed: alert'),
      lost: new ProbeError('unreachable', 'lost', 'cannot probe from p over SSH: connection lost'),
    });
    const targets = ['ok', 'refused', 'slow', 'odd', 'lost'].map((n) => ({
      ...target(n, 443),
      host: n,
    }));
    const silent = await findSilentTargets(targets, {
      concurrency: 2,
      server: 'haproxy',
      retryAfterMs: 10,
      ask: askThrough(prober, 'TLSv1.3', 'p'),
    });
    expect(silent.map((s) => s.node)).toEqual(['refused', 'slow']);
    expect(silent[0]?.reason).toBe(
      "nothing accepts connections on refused:443 (from p: cannot connect: Connection refused): is the TLS server (haproxy) running? The rotation's checks need it: start it, or take the node out of the pool",
    );
    expect(silent[1]?.reason).toMatch(
      /^nothing accepts connections on slow:443 \(from p: no handshake within 2 s\)/,
    );
  });
});

describe('findSilentTargets: second tries and an early end', () => {
  /** An ask that answers from `script` per node and counts the calls. */
  function scripted(script: Record<string, 'open' | 'refused' | 'timeout' | 'hang'>): {
    ask: Ask;
    calls: string[];
  } {
    const calls: string[] = [];
    const ask: Ask = (t, signal) => {
      calls.push(t.node);
      const how = script[t.node] ?? 'open';
      if (how === 'open') return Promise.resolve(undefined);
      if (how === 'refused') return Promise.resolve({ why: 'refused', askAgain: true });
      if (how === 'timeout') return Promise.resolve({ why: 'no answer', askAgain: false });
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve(undefined)));
    };
    return { ask, calls };
  }

  it('asks a refusing node again but not one that timed out', async () => {
    const { ask, calls } = scripted({ r: 'refused', t: 'timeout' });
    const targets = ['o', 'r', 't'].map((n) => target(n, 1));
    const silent = await findSilentTargets(targets, {
      concurrency: 3,
      server: 'nginx',
      retryAfterMs: 1,
      ask,
    });
    expect(silent.map((x) => x.node).sort()).toEqual(['r', 't']);
    expect(calls.sort()).toEqual(['o', 'r', 'r', 't']);
  });

  it('keeps the first answer of a node whose second try is cut short', async () => {
    const controller = new AbortController();
    let round = 0;
    const ask: Ask = (_t, signal) => {
      round += 1;
      if (round === 1) return Promise.resolve({ why: 'refused', askAgain: true });
      setTimeout(() => controller.abort(), 10);
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve(undefined)));
    };
    const silent = await findSilentTargets([target('r', 1)], {
      concurrency: 1,
      server: 'nginx',
      retryAfterMs: 1,
      signal: controller.signal,
      ask,
    });
    expect(silent.map((x) => x.node)).toEqual(['r']);
  });

  it('counts a node not asked to the end as answering', async () => {
    const controller = new AbortController();
    const { ask } = scripted({ t: 'timeout', h: 'hang' });
    setTimeout(() => controller.abort(), 20);
    const silent = await findSilentTargets([target('t', 1), target('h', 1), target('x', 1)], {
      concurrency: 2,
      server: 'nginx',
      signal: controller.signal,
      ask,
    });
    // x waited behind h for a free slot; once ended, nobody else is asked.
    expect(silent.map((x) => x.node)).toEqual(['t']);
  });
});
