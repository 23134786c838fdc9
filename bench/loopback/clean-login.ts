import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Fleet } from '../../src/loopback/index.js';

/**
 * Debian's bash reads ~/.bashrc for every command sshd starts, when it is the first shell
 * (SHLVL unset). On a workstation that file may do real work (this machine's root runs
 * `pyenv init`, ~100 ms of CPU per command); a server's root usually has nothing there. Setting
 * SHLVL=1 for sessions makes bash skip it, so that every tool pays what a clean node costs.
 * The fleet's sshd config lives at <node dir>/ssh/sshd_config (src/loopback/sshd.ts).
 */
export async function skipLoginRc(fleet: Fleet): Promise<void> {
  await Promise.all(
    fleet.nodes.map(async (node) => {
      await appendFile(join(node.dir, 'ssh', 'sshd_config'), 'SetEnv SHLVL=1\n');
      await node.stopSshd();
      await node.startSshd();
    }),
  );
}
