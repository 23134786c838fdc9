import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeInventory } from './inventory.js';
import {
  certFilesIn,
  generateCert,
  generateSshKey,
  haproxyTicketKeys,
  type CertFiles,
} from './material.js';
import { createNode, type NodePlan } from './node.js';
import { chooseSubnet, sshPort, tlsPort, validateSpec } from './plan.js';
import { checkHost } from './preflight.js';
import { killProcesses, processesUnder, readPidFile, withDescendants } from './procs.js';
import {
  fleetPrefix,
  fleetRoot,
  reapStaleFleets,
  registerLive,
  unregisterLive,
  writeOwner,
} from './reaper.js';
import { prepareServer } from './servers.js';
import { ensurePrivsepDir, prepareSshd } from './sshd.js';
import type { Fleet, FleetNode, FleetPool, FleetSpec } from './types.js';

/** Waits for all, then throws every failure at once: one dead node should not hide another. */
async function settleAll(tasks: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(tasks);
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    const text = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('\n\n');
    throw new Error(`${errors.length} fleet tasks failed:\n\n${text}`, { cause: errors[0] });
  }
}

interface PlannedPool {
  name: string;
  server: FleetPool['server'];
  servername: string;
  cert: CertFiles;
  /** Per node: the cert it serves and, for haproxy, its tickets.keys. */
  nodes: { plan: NodePlan; cert: CertFiles; ticketKeys: string | undefined }[];
}

function planPools(spec: FleetSpec, dir: string, subnet: string): PlannedPool[] {
  let n = 0;
  return spec.pools.map((p) => {
    const servername = `${p.name}.test`;
    const cert = certFilesIn(join(dir, 'pools', p.name));
    const sharedTickets = p.server === 'haproxy' ? haproxyTicketKeys() : undefined;
    const nodes = Array.from({ length: p.nodes }, (_, index) => {
      n += 1;
      const name = `${p.name}-${index + 1}`;
      const nodeDir = join(dir, name);
      const own = p.distinctCertNode === index ? certFilesIn(join(nodeDir, 'tls')) : cert;
      const plan: NodePlan = {
        name,
        pool: p.name,
        server: p.server,
        index,
        host: `${subnet}.${n}`,
        sshPort,
        tlsPort,
        dir: nodeDir,
        keyDir: join(nodeDir, 'tickets'),
        servername,
        certPem: own.cert,
      };
      const ticketKeys = p.distinctTicketsNode === index ? haproxyTicketKeys() : sharedTickets;
      return { plan, cert: own, ticketKeys };
    });
    return { name: p.name, server: p.server, servername, cert, nodes };
  });
}

/**
 * Starts sshd and a TLS server per node on 127.A.B.N, all in parallel, and returns once every
 * one of them answers. On failure everything started so far is torn down before the error.
 */
export async function startFleet(spec: FleetSpec): Promise<Fleet> {
  validateSpec(spec);
  checkHost(spec.pools.map((p) => p.server));
  await reapStaleFleets();
  await ensurePrivsepDir();
  const dir = await mkdtemp(join(fleetRoot(), fleetPrefix));
  // Apache's workers run as www-data and must reach their htdocs below this directory.
  await chmod(dir, 0o755);
  writeOwner(dir);

  const pidFiles: string[] = [];
  const knownPids = (): number[] =>
    withDescendants(
      pidFiles.map((f) => readPidFile(f, dir)).filter((p): p is number => p !== undefined),
    );
  registerLive(dir, knownPids);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await killProcesses([...new Set([...knownPids(), ...processesUnder(dir)])]);
      // Anything that a dying process started meanwhile.
      const left = processesUnder(dir);
      if (left.length > 0) await killProcesses(left, 500);
      await rm(dir, { recursive: true, force: true });
      unregisterLive(dir);
    })();
    return stopping;
  };

  try {
    const readyTimeoutMs = spec.readyTimeoutMs ?? 10_000;
    const total = spec.pools.reduce((sum, p) => sum + p.nodes, 0);
    const subnet = await chooseSubnet(dir, total);
    const planned = planPools(spec, dir, subnet);
    const identityFile = join(dir, 'id_ed25519');
    const knownHosts = join(dir, 'known_hosts');
    const authorizedKeys = join(dir, 'authorized_keys');

    const clientKey = generateSshKey(identityFile, 'stekctl-fleet-client');
    const certs = planned.flatMap((p) => {
      const own = p.nodes.filter((n) => n.cert !== p.cert);
      return [generateCert(join(dir, 'pools', p.name), p.servername)].concat(
        own.map((n) => generateCert(join(n.plan.dir, 'tls'), p.servername)),
      );
    });
    const prepared = planned.flatMap((p) =>
      p.nodes.map(async (n) => {
        // Recursive: a node with its own certificate may have its directory made already, by
        // the certificate's generation running at the same time.
        await mkdir(n.plan.dir, { recursive: true, mode: 0o755 });
        const [server, sshd] = await Promise.all([
          prepareServer(p.server, { ...n.plan, cert: n.cert, ticketKeys: n.ticketKeys }),
          prepareSshd(n.plan.dir, n.plan.name, n.plan.host, n.plan.sshPort, authorizedKeys),
        ]);
        pidFiles.push(server.pidFile, sshd.pidFile);
        return createNode(n.plan, server, sshd, readyTimeoutMs);
      }),
    );
    await settleAll([clientKey, ...certs, ...prepared]);
    const nodes: FleetNode[] = await Promise.all(prepared);
    await writeFile(authorizedKeys, `${await clientKey} stekctl-fleet-client\n`, { mode: 0o600 });
    await writeFile(
      knownHosts,
      nodes.map((n) => `[${n.host}]:${n.sshPort} ${n.hostKey}\n`).join(''),
    );

    await settleAll(nodes.flatMap((n) => [n.startSshd(), n.startServer()]));

    const pools: FleetPool[] = planned.map((p) => ({
      name: p.name,
      server: p.server,
      servername: p.servername,
      certPem: p.cert.cert,
      keyPem: p.cert.key,
      nodes: nodes.filter((n) => n.pool === p.name),
    }));
    const fleet: Fleet = {
      dir,
      subnet,
      identityFile,
      knownHosts,
      pools,
      nodes,
      pool(name: string) {
        const found = pools.find((p) => p.name === name);
        if (!found) throw new Error(`no pool ${name} in this fleet`);
        return found;
      },
      writeInventory: (opts) => writeInventory(fleet, opts),
      stop,
    };
    return fleet;
  } catch (e) {
    await stop();
    throw e;
  }
}
