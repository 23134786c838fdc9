import { accessSync, constants } from 'node:fs';
import { binaries } from '../loopback/preflight.js';

/** The programs a demo fleet of nginx nodes runs, each with the Debian package that ships it. */
const demoBinaries = [binaries.sshd, binaries.sshKeygen, binaries.openssl, binaries.nginx];

export interface BinaryNeed {
  path: string;
  pkg: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Debian packages to install so that every program the demo needs exists, without repeats. */
export function listMissingPackages(
  needs: readonly BinaryNeed[] = demoBinaries,
  exists: (path: string) => boolean = isExecutable,
): string[] {
  const missing = needs.filter((n) => !exists(n.path)).map((n) => n.pkg);
  return [...new Set(missing)];
}

/** The command line that installs `pkgs`, as shown to someone who must run it as root. */
export function formatInstallCommand(pkgs: readonly string[]): string {
  return `apt-get install -y ${pkgs.join(' ')}`;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
