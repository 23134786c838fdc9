import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCert, makeSshKey } from '../material.js';
import type { WorkerConfig, WorkerMessage, WorkerReport } from './worker-protocol.js';

export interface SimFleetSpec {
  nodes: number;
  workers: number;
  /** Second octet of the 127.X.0.0/16 block the nodes listen in. */
  subnet: number;
  sshPort: number;
  tlsPort: number;
  latencyMs: number;
  execMs: number;
  checkMs: number;
  reloadMs: number;
  failureRate: number;
  versions: string[];
  seed: number;
}

export interface SimFleet {
  dir: string;
  inventory: string;
  hosts: string[];
  /** Clears the counters (after a warm-up run). */
  reset(): Promise<void>;
  report(): Promise<WorkerReport[]>;
  stop(): Promise<void>;
}

const keyDir = '/etc/nginx/tickets';
const servername = 'sim.test';

/** Node i listens on 127.X.(i / 250).(i % 250 + 1): no .0 or .255 in the last octet. */
export function simHost(subnet: number, i: number): string {
  return `127.${subnet}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

function renderInventory(spec: SimFleetSpec, hosts: string[], dir: string): string {
  const lines = [
    'defaults:',
    '  ssh:',
    '    user: root',
    `    port: ${spec.sshPort}`,
    `    identityFile: ${join(dir, 'id_ed25519')}`,
    `    knownHosts: ${join(dir, 'known_hosts')}`,
    '    connectTimeout: 60s',
    '    sudo: false',
    'pools:',
    '  sim:',
    '    server: nginx',
    '    overlap: 0s',
    `    keyDir: ${keyDir}`,
    '    config: /etc/nginx/nginx.conf',
    '    check: nginx -t',
    '    reload: nginx -s reload',
    `    probe: { port: ${spec.tlsPort}, servername: ${servername}, timeout: 20s, versions: [${spec.versions.join(', ')}] }`,
    '    nodes:',
    ...hosts.map((h) => `      - host: ${h}`),
  ];
  return lines.join('\n') + '\n';
}

function waitFor(child: ChildProcess, type: 'ready' | 'report'): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: WorkerMessage): void => {
      if (msg.type === 'error') {
        cleanup();
        reject(new Error(`simulator process: ${msg.message}`));
      } else if (msg.type === type) {
        cleanup();
        resolve(msg);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`simulator process exited (${code})`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Starts the simulator processes and writes the inventory and known_hosts for them. */
export async function startSimFleet(spec: SimFleetSpec): Promise<SimFleet> {
  const dir = await mkdtemp(join(tmpdir(), 'stekctl-bench-sim-'));
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            if (c.connected) c.send({ type: 'stop' } satisfies WorkerMessage);
            else c.kill('SIGTERM');
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const hostKeyPath = join(dir, 'host_ed25519');
    const [hostPublic, clientPublic, tlsMaterial] = await Promise.all([
      makeSshKey(hostKeyPath, 'stekctl-sim-host'),
      makeSshKey(join(dir, 'id_ed25519'), 'stekctl-sim-client'),
      makeCert(dir, servername),
    ]);
    const hostKeyPem = await readFile(hostKeyPath, 'utf8');
    const hosts = Array.from({ length: spec.nodes }, (_, i) => simHost(spec.subnet, i));
    const hostKeyFields = hostPublic.split(' ').slice(0, 2).join(' ');
    await writeFile(
      join(dir, 'known_hosts'),
      hosts.map((h) => `[${h}]:${spec.sshPort} ${hostKeyFields}\n`).join(''),
    );
    const inventory = join(dir, 'inventory.yaml');
    await writeFile(inventory, renderInventory(spec, hosts, dir));
    const initialKey = randomBytes(48).toString('base64');
    const per = Math.ceil(spec.nodes / spec.workers);
    const workerPath = fileURLToPath(new URL('./worker.js', import.meta.url));
    for (let w = 0; w * per < spec.nodes; w++) {
      const slice = hosts.slice(w * per, (w + 1) * per);
      const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      const config: WorkerConfig = {
        firstIndex: w * per,
        hosts: slice,
        keyDir,
        sshPort: spec.sshPort,
        tlsPort: spec.tlsPort,
        hostKeyPem,
        clientPublicKey: clientPublic,
        certPem: tlsMaterial.cert,
        keyPem: tlsMaterial.key,
        latencyMs: spec.latencyMs,
        execMs: spec.execMs,
        checkMs: spec.checkMs,
        reloadMs: spec.reloadMs,
        failureRate: spec.failureRate,
        seed: spec.seed + w,
        initialKey,
      };
      const ready = waitFor(child, 'ready');
      child.send({ type: 'start', config } satisfies WorkerMessage);
      await ready;
    }
    return {
      dir,
      inventory,
      hosts,
      async reset() {
        await Promise.all(
          children.map((c) => {
            const ready = waitFor(c, 'ready');
            c.send({ type: 'reset' } satisfies WorkerMessage);
            return ready;
          }),
        );
      },
      async report() {
        return Promise.all(
          children.map(async (c) => {
            const got = waitFor(c, 'report');
            c.send({ type: 'report-request' } satisfies WorkerMessage);
            return (await got) as WorkerReport;
          }),
        );
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
