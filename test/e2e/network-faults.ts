import { spawn } from 'node:child_process';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import type { FleetNode } from './fleet/index.js';

/**
 * Network faults for the fault tests: a relay in front of a node's TLS port that can hold or
 * refuse connections, and a port on which connections time out.
 */

export type RelayMode = 'pass' | 'hold' | 'refuse';

export interface Relay {
  port: number;
  /** New connections are relayed, held (not answered) until the mode changes, or refused. */
  setMode: (mode: RelayMode) => void;
  stop: () => Promise<void>;
}

/**
 * A TCP relay on the node's address to its TLS port, for a probe port in an inventory. The
 * decision on each connection waits a moment, so that a progress line printed before the run
 * connected has been read (and acted on) by the test by then.
 */
export async function startRelay(node: FleetNode): Promise<Relay> {
  let mode: RelayMode = 'pass';
  const held: Socket[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const decide = (client: Socket): void => {
    if (mode === 'hold') return void held.push(client);
    if (mode === 'refuse') return void client.destroy();
    const upstream = createConnection({ host: node.host, port: node.tlsPort });
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  };
  const server = createServer((client) => {
    track(client);
    setTimeout(() => decide(client), 30);
  });
  await new Promise<void>((resolve) => server.listen(0, node.host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    setMode: (next) => {
      mode = next;
      if (next !== 'hold') for (const c of held.splice(0)) decide(c);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on which connections time out instead of being refused, and how to remove it. */
export interface BlackHole {
  port: number;
  stop(): Promise<void>;
}

/**
 * A listener on `host` that never accepts, with its queue full: the kernel then drops new SYNs,
 * and a connection attempt waits until its own timeout, as behind a firewall that drops
 * packets (on loopback, no firewall rule needed). The listening process blocks its own event
 * loop once it has said its port; two connections held here fill its queue (backlog 1).
 */
export async function startBlackHole(host: string): Promise<BlackHole> {
  const script = [
    "import { createServer } from 'node:net';",
    'const srv = createServer();',
    'srv.listen({ host: process.argv[1], port: 0, backlog: 1 }, () => {',
    '  process.stdout.write(`${srv.address().port}\\n`, () => {',
    '    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);',
    '  });',
    '});',
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, host], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  const queued: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = createConnection({ host, port });
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    queued.push(s);
  }
  return {
    port,
    stop: async () => {
      for (const s of queued) s.destroy();
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    },
  };
}
