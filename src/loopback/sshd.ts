import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from './exec.js';
import { generateSshKey } from './material.js';
import { binaries } from './preflight.js';

export interface SshdLayout {
  config: string;
  pidFile: string;
  log: string;
  hostKeyFile: string;
  /** `ssh-ed25519 AAAA...` */
  hostKey: string;
}

/** sshd refuses to start without its privilege separation directory. */
export async function ensurePrivsepDir(): Promise<void> {
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
}

function renderSshdConfig(
  host: string,
  port: number,
  l: SshdLayout,
  authorizedKeys: string,
): string {
  return `ListenAddress ${host}:${port}
HostKey ${l.hostKeyFile}
PidFile ${l.pidFile}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The fleet directory lives under /tmp, which StrictModes rejects.
StrictModes no
AuthorizedKeysFile ${authorizedKeys}
Subsystem sftp internal-sftp
LogLevel ERROR
# Rotations open many sessions at once; the default would drop some of them.
MaxStartups 200
MaxSessions 100
# Debian's bash reads ~/.bashrc for every command sshd runs; a developer's or CI machine's
# root .bashrc (pyenv, prompts) is no part of a server node and would cost every command
# its time. With SHLVL=1 inherited, bash counts itself nested and skips the file.
SetEnv SHLVL=1
`;
}

/** Writes the node's host key and sshd_config under `<nodeDir>/ssh`. */
export async function prepareSshd(
  nodeDir: string,
  nodeName: string,
  host: string,
  port: number,
  authorizedKeys: string,
): Promise<SshdLayout> {
  const dir = join(nodeDir, 'ssh');
  await mkdir(dir, { mode: 0o700 });
  const hostKeyFile = join(dir, 'host_ed25519');
  const l: SshdLayout = {
    config: join(dir, 'sshd_config'),
    pidFile: join(dir, 'sshd.pid'),
    log: join(dir, 'sshd.log'),
    hostKeyFile,
    hostKey: await generateSshKey(hostKeyFile, `${nodeName}-host`),
  };
  await writeFile(l.config, renderSshdConfig(host, port, l, authorizedKeys));
  return l;
}

/** Starts sshd in the background; it writes its pid file once it listens. */
export async function startSshdDaemon(l: SshdLayout, cwd: string): Promise<void> {
  await runChecked(binaries.sshd.path, ['-f', l.config, '-E', l.log], { cwd, timeoutMs: 15_000 });
}
