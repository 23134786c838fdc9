/**
 * One simulator process: plays sshd and the TLS server of a slice of the simulated fleet.
 * Driven over IPC by sim-fleet.ts; never started by hand.
 */
import { createSeededRng } from '../../src/probe/probe-plan.js';
import { seedNode, type KeyStore, type SimNode } from './node-model.js';
import { SshSim } from './ssh-sim.js';
import { TlsSim } from './tls-sim.js';
import type { WorkerConfig, WorkerMessage, WorkerReport } from './worker-protocol.js';

let ssh: SshSim | undefined;
let tls: TlsSim | undefined;
let nodes: SimNode[] = [];
const tlsCount = { handshakes: 0, inFlight: 0, maxInFlight: 0 };

function send(msg: WorkerMessage): void {
  process.send?.(msg);
}

async function start(cfg: WorkerConfig): Promise<void> {
  const keys: KeyStore = new Map();
  const initial = Buffer.from(cfg.initialKey, 'base64');
  const initialId = initial.subarray(0, 16).toString('hex');
  keys.set(initialId, initial);
  nodes = cfg.hosts.map((host, i) => seedNode(cfg.firstIndex + i, host, cfg.keyDir, initialId));
  ssh = new SshSim(
    {
      hostKeyPem: cfg.hostKeyPem,
      clientPublicKey: cfg.clientPublicKey,
      port: cfg.sshPort,
      latencyMs: cfg.latencyMs,
      keys,
      times: {
        execMs: cfg.execMs,
        checkMs: cfg.checkMs,
        reloadMs: cfg.reloadMs,
        failureRate: cfg.failureRate,
        random: createSeededRng(cfg.seed),
      },
    },
    nodes.length,
  );
  tls = new TlsSim({
    certPem: cfg.certPem,
    keyPem: cfg.keyPem,
    port: cfg.tlsPort,
    keys,
    onConnection: (_node, delta) => {
      tlsCount.inFlight += delta;
      if (delta > 0) tlsCount.handshakes += 1;
      tlsCount.maxInFlight = Math.max(tlsCount.maxInFlight, tlsCount.inFlight);
    },
  });
  await ssh.listen(nodes);
  for (const node of nodes) await tls.listen(node);
}

function report(): WorkerReport {
  const encrypting = new Map<string, number>();
  for (const n of nodes) {
    const id = n.liveRing[0] ?? '-';
    encrypting.set(id, (encrypting.get(id) ?? 0) + 1);
  }
  const cpu = process.cpuUsage();
  return {
    type: 'report',
    firstIndex: nodes[0]?.index ?? 0,
    ssh: ssh?.record ?? { connections: [], commands: [], maxInFlight: 0 },
    tls: { handshakes: tlsCount.handshakes, maxInFlight: tlsCount.maxInFlight },
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssKb: process.resourceUsage().maxRSS,
    encrypting: [...encrypting.entries()],
  };
}

function resetRecord(): void {
  if (ssh) {
    ssh.record.connections.fill(0);
    ssh.record.commands = [];
    ssh.record.maxInFlight = 0;
  }
  tlsCount.handshakes = 0;
  tlsCount.maxInFlight = 0;
}

process.on('message', (msg: WorkerMessage) => {
  if (msg.type === 'start') {
    start(msg.config).then(
      () => send({ type: 'ready' }),
      (err: unknown) =>
        send({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (msg.type === 'report-request') {
    send(report());
  } else if (msg.type === 'reset') {
    resetRecord();
    send({ type: 'ready' });
  } else if (msg.type === 'stop') {
    ssh?.close();
    tls?.close();
    process.disconnect?.();
    setTimeout(() => process.exit(0), 100).unref();
  }
});
process.on('disconnect', () => process.exit(0));
