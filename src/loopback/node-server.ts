import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerContext, ServerLayout } from './servers.js';

/** Worker processes per Node.js node: enough that consecutive connections meet different ones. */
export const nodeWorkers = 3;

/**
 * The built `stekctl/node` module. From dist/loopback it is a sibling; from the sources (tests run
 * by vitest) it is the build output, so the fleet needs `npm run build` first.
 */
export function locateNodeHelper(): string {
  const candidates = [
    new URL('../node/index.js', import.meta.url),
    new URL('../../dist/node/index.js', import.meta.url),
  ];
  for (const url of candidates) if (existsSync(fileURLToPath(url))) return url.href;
  throw new Error(
    `cannot find the built stekctl/node module (${fileURLToPath(candidates[1] as URL)}): run npm run build`,
  );
}

export function layoutNodeServer(ctx: ServerContext, errorLog: string): ServerLayout {
  const config = join(ctx.dir, 'server.mjs');
  return {
    config,
    pidFile: join(ctx.dir, 'node.pid'),
    errorLog,
    check: 'true',
    // Every worker watches the key directory: a switch needs no reload and starts no processes.
    reload: 'true',
    start: { file: process.execPath, args: [config, 'start'] },
    adminSocket: undefined,
    reloadStartsProcesses: false,
  };
}

/**
 * A node of a Node.js pool: `node server.mjs start` detaches a cluster primary (its own session,
 * like the other daemons) that runs HTTPS workers. Each worker loads stekctl's key through
 * useTicketKeys and answers every request with `node <name> worker <id> key <keyId>`, the id
 * being the name of the key the worker encrypts with (public: it starts every ticket).
 */
export function renderNodeServer(ctx: ServerContext, l: ServerLayout, helperUrl: string): string {
  const cfg = {
    name: ctx.name,
    dir: ctx.dir,
    host: ctx.host,
    port: ctx.tlsPort,
    cert: ctx.cert.cert,
    key: ctx.cert.key,
    keyDir: ctx.keyDir,
    pidFile: l.pidFile,
    errorLog: l.errorLog,
    workers: nodeWorkers,
    helperUrl,
    // One value for the whole pool: each node's default would hash its own script path.
    sessionIdContext: createHash('sha256').update(ctx.servername).digest('hex').slice(0, 32),
  };
  return `// Test fleet node ${ctx.name}: a Node.js cluster whose workers share stekctl's ticket key.
import cluster from 'node:cluster';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { fileURLToPath } from 'node:url';

const cfg = ${JSON.stringify(cfg, null, 2)};

function log(line) {
  try {
    appendFileSync(cfg.errorLog, \`\${new Date().toISOString()} [\${process.pid}] \${line}\\n\`);
  } catch {
    // Nowhere else to say it.
  }
}

if (process.argv[2] === 'start') {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    cwd: cfg.dir,
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
} else if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  writeFileSync(cfg.pidFile, \`\${process.pid}\\n\`);
  let stopping = false;
  for (let i = 0; i < cfg.workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log(\`worker \${worker.id} exited (\${signal ?? code}); starting another\`);
    setTimeout(() => {
      if (!stopping) cluster.fork();
    }, 200);
  });
  const stop = () => {
    stopping = true;
    rmSync(cfg.pidFile, { force: true });
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const { useTicketKeys } = await import(cfg.helperUrl);
  const id = cluster.worker.id;
  const server = https.createServer(
    {
      key: readFileSync(cfg.key),
      cert: readFileSync(cfg.cert),
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      sessionIdContext: cfg.sessionIdContext,
      sessionTimeout: 300,
    },
    (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
      // The name (first 16 bytes, public) of the key this worker really encrypts with.
      const name = server.getTicketKeys().subarray(0, 16).toString('hex');
      res.end(\`node \${cfg.name} worker \${id} key \${name}\\n\`);
    },
  );
  useTicketKeys(server, {
    keyDir: cfg.keyDir,
    onKey: (e) => log(\`worker \${id} uses ticket key \${e.keyId}\`),
    onError: (e) => log(\`worker \${id}: \${e.message}\`),
    onWarning: (m) => log(\`worker \${id}: \${m}\`),
  });
  server.listen(cfg.port, cfg.host);
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 500).unref();
  });
}
`;
}
