import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { findSilentTargets } from './check-listening.js';
import type { ProbeTarget } from './probe-target.js';

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

  it('ends at once when aborted, naming nobody', async () => {
    const port = await closedPort();
    const controller = new AbortController();
    const started = Date.now();
    const checking = findSilentTargets([target('a', port)], {
      concurrency: 1,
      server: 'nginx',
      retryAfterMs: 60_000,
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    expect(await checking).toEqual([]);
    // The retry's minute-long pause did not run out.
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
