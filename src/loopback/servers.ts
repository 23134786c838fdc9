import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertFiles } from './material.js';
import { layoutNodeServer, locateNodeHelper, renderNodeServer } from './node-server.js';
import { apacheModuleDir, apacheModules, binaries } from './preflight.js';
import type { ServerKind } from './types.js';

export interface ServerContext {
  name: string;
  host: string;
  tlsPort: number;
  dir: string;
  keyDir: string;
  servername: string;
  cert: CertFiles;
  /** haproxy only: the tickets.keys content. */
  ticketKeys: string | undefined;
}

export interface ServerLayout {
  config: string;
  pidFile: string;
  errorLog: string;
  check: string;
  /** A shell command line (HAProxy's needs `$(cat pidfile)`). */
  reload: string;
  start: { file: string; args: string[] };
  adminSocket: string | undefined;
  /** False when a reload starts no new processes (Node.js workers pick up the key themselves). */
  reloadStartsProcesses?: boolean;
}

/** Where everything of a node's server lives, and how it is driven. */
export function layoutServer(kind: ServerKind, ctx: ServerContext): ServerLayout {
  const errorLog = join(ctx.dir, 'error.log');
  switch (kind) {
    case 'nginx': {
      const config = join(ctx.dir, 'nginx.conf');
      return {
        config,
        pidFile: join(ctx.dir, 'nginx.pid'),
        errorLog,
        check: `nginx -t -q -c ${config}`,
        reload: `nginx -c ${config} -s reload`,
        start: { file: binaries.nginx.path, args: ['-c', config] },
        adminSocket: undefined,
      };
    }
    case 'apache': {
      const config = join(ctx.dir, 'apache2.conf');
      return {
        config,
        pidFile: join(ctx.dir, 'apache2.pid'),
        errorLog,
        check: `apache2 -f ${config} -t`,
        reload: `apache2 -f ${config} -k graceful`,
        start: { file: binaries.apache.path, args: ['-f', config, '-k', 'start'] },
        adminSocket: undefined,
      };
    }
    case 'haproxy': {
      const config = join(ctx.dir, 'haproxy.cfg');
      const pidFile = join(ctx.dir, 'haproxy.pid');
      const adminSocket = join(ctx.dir, 'admin.sock');
      return {
        config,
        pidFile,
        errorLog,
        check: `haproxy -c -q -f ${config}`,
        // -x takes the listening sockets over from the old process (expose-fd listeners on the
        // admin socket): HAProxy's seamless reload for a new process started with -sf.
        reload: `haproxy -f ${config} -D -p ${pidFile} -x ${adminSocket} -sf $(cat ${pidFile})`,
        start: { file: binaries.haproxy.path, args: ['-f', config, '-D', '-p', pidFile] },
        adminSocket,
      };
    }
    case 'node':
      return layoutNodeServer(ctx, errorLog);
  }
}

function renderNginx(ctx: ServerContext, l: ServerLayout): string {
  const tmp = join(ctx.dir, 'tmp');
  return `worker_processes 1;
user root;
pid ${l.pidFile};
error_log ${l.errorLog} warn;

events {
  worker_connections 256;
}

http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  default_type text/plain;

  server {
    listen ${ctx.host}:${ctx.tlsPort} ssl default_server;
    server_name ${ctx.servername};
    ssl_certificate ${ctx.cert.cert};
    ssl_certificate_key ${ctx.cert.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_timeout 300s;
    ssl_session_tickets on;
    # Session ticket keys apply per listening socket, so they go in the default server.
    include ${ctx.keyDir}/tickets.conf;

    location / {
      return 200 "node ${ctx.name}\\n";
    }
  }
}
`;
}

function renderApache(ctx: ServerContext, l: ServerLayout): string {
  const modules = apacheModules
    .map((m) => `LoadModule ${m}_module ${apacheModuleDir}/mod_${m}.so`)
    .join('\n');
  const htdocs = join(ctx.dir, 'htdocs');
  const listen = `${ctx.host}:${ctx.tlsPort}`;
  return `# Self-contained: no Debian envvars, every runtime file under the node directory.
ServerRoot /etc/apache2
ServerName ${ctx.servername}
PidFile ${l.pidFile}
ErrorLog ${l.errorLog}
LogLevel warn
Mutex file:${join(ctx.dir, 'mutex')} default
DefaultRuntimeDir ${join(ctx.dir, 'run')}
ScoreBoardFile ${join(ctx.dir, 'scoreboard')}
User www-data
Group www-data
Timeout 30
KeepAliveTimeout 5

${modules}

StartServers 1
ServerLimit 4
ThreadsPerChild 8
ThreadLimit 8
MinSpareThreads 8
MaxSpareThreads 24
MaxRequestWorkers 32

Listen ${listen}
SSLSessionCache shmcb:${join(ctx.dir, 'ssl_scache')}(512000)
SSLSessionCacheTimeout 300

<Directory />
  AllowOverride None
  Require all denied
</Directory>
<Directory ${htdocs}>
  Require all granted
</Directory>

<VirtualHost ${listen}>
  ServerName ${ctx.servername}
  SSLEngine on
  SSLCertificateFile ${ctx.cert.cert}
  SSLCertificateKeyFile ${ctx.cert.key}
  SSLProtocol -all +TLSv1.2 +TLSv1.3
  SSLSessionCacheTimeout 300
  SSLSessionTickets on
  Include ${ctx.keyDir}/tickets.conf
  DocumentRoot ${htdocs}
  # Every path answers 200 with the node's name.
  AliasMatch ^ ${htdocs}/index.txt
</VirtualHost>
`;
}

function renderHaproxy(ctx: ServerContext, l: ServerLayout): string {
  // No pidfile here: start and reload pass -p, and both at once make HAProxy print an alert.
  return `global
  daemon
  stats socket ${l.adminSocket} level admin expose-fd listeners
  nbthread 1
  maxconn 1000
  tune.ssl.lifetime 300

defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s

frontend fe
  bind ${ctx.host}:${ctx.tlsPort} ssl crt ${ctx.cert.bundle} tls-ticket-keys ${ctx.keyDir}/tickets.keys ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3
  http-request return status 200 content-type text/plain string "node ${ctx.name}\\n"
`;
}

/** Writes the server's config and the files it needs before its first start. */
export async function prepareServer(kind: ServerKind, ctx: ServerContext): Promise<ServerLayout> {
  const l = layoutServer(kind, ctx);
  await mkdir(ctx.keyDir, { recursive: true, mode: 0o700 });
  await chmod(ctx.keyDir, 0o700);
  switch (kind) {
    case 'nginx':
      await mkdir(join(ctx.dir, 'tmp'), { recursive: true });
      await writeFile(join(ctx.keyDir, 'tickets.conf'), '');
      await writeFile(l.config, renderNginx(ctx, l));
      break;
    case 'apache':
      // Apache's workers run as www-data and read htdocs; the mutex directory must exist.
      await Promise.all(
        ['htdocs', 'mutex', 'run'].map((d) => mkdir(join(ctx.dir, d), { mode: 0o755 })),
      );
      await writeFile(join(ctx.dir, 'htdocs', 'index.txt'), `node ${ctx.name}\n`, { mode: 0o644 });
      await writeFile(join(ctx.keyDir, 'tickets.conf'), '');
      await writeFile(l.config, renderApache(ctx, l));
      break;
    case 'haproxy':
      if (ctx.ticketKeys === undefined)
        throw new Error(`${ctx.name}: haproxy needs tickets.keys content`);
      await writeFile(join(ctx.keyDir, 'tickets.keys'), ctx.ticketKeys, { mode: 0o600 });
      await writeFile(l.config, renderHaproxy(ctx, l));
      break;
    case 'node':
      await writeFile(join(ctx.keyDir, 'tickets.conf'), '', { mode: 0o600 });
      await writeFile(l.config, renderNodeServer(ctx, l, locateNodeHelper()));
      break;
  }
  return l;
}
