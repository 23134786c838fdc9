import { accessSync, constants } from 'node:fs';
import type { ServerKind } from './types.js';

/** The programs a fleet runs, and the Debian package that ships each. */
export const binaries = {
  sshd: { path: '/usr/sbin/sshd', pkg: 'openssh-server' },
  sshKeygen: { path: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
  openssl: { path: '/usr/bin/openssl', pkg: 'openssl' },
  nginx: { path: '/usr/sbin/nginx', pkg: 'nginx' },
  apache: { path: '/usr/sbin/apache2', pkg: 'apache2' },
  haproxy: { path: '/usr/sbin/haproxy', pkg: 'haproxy' },
  // HAProxy's runtime API (runtimeApi) is reached through the stats socket with socat.
  socat: { path: '/usr/bin/socat', pkg: 'socat' },
  // Node.js pools run on the Node.js that runs the fleet.
  node: { path: process.execPath, pkg: 'nodejs' },
} as const;

/** Apache modules the generated config loads; all ship with the apache2 package. */
export const apacheModules = ['mpm_event', 'authz_core', 'alias', 'socache_shmcb', 'ssl'] as const;
export const apacheModuleDir = '/usr/lib/apache2/modules';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Throws one message naming everything that is missing, so a broken host fails fast, not by timeout. */
export function checkHost(servers: Iterable<ServerKind>): void {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push(
      `the test fleet must run as root (uid ${process.getuid()}): it binds 127.x addresses, starts sshd and lets root log in`,
    );
  }
  const needed = new Set<keyof typeof binaries>(['sshd', 'sshKeygen', 'openssl']);
  for (const s of servers) needed.add(s);
  if (needed.has('haproxy')) needed.add('socat');
  for (const name of needed) {
    const bin = binaries[name];
    if (!executable(bin.path)) problems.push(`${bin.path} is missing: apt-get install ${bin.pkg}`);
  }
  if (needed.has('apache')) {
    for (const mod of apacheModules) {
      const file = `${apacheModuleDir}/mod_${mod}.so`;
      if (!readable(file)) problems.push(`${file} is missing: apt-get install apache2`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`cannot start the test fleet:\n- ${problems.join('\n- ')}`);
  }
}
