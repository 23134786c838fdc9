import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSharedSshConfig } from './ssh-config-cache.js';
import { lookupHost } from './ssh-config.js';

let home: string;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'stekctl-sshcfg-cache-'));
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
});
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

function portOf(config: Awaited<ReturnType<typeof loadSharedSshConfig>>, host: string) {
  return lookupHost(config, host, { user: undefined, localUser: 'me' }).first.get('port')?.value;
}

describe('loadSharedSshConfig', () => {
  it('parses an unchanged config once, also for connections that start together', async () => {
    const file = join(home, 'fleet.conf');
    writeFileSync(file, 'Host web-*\n  Port 2201\n', { mode: 0o600 });
    const together = await Promise.all([1, 2, 3].map(() => loadSharedSshConfig(file, home)));
    const later = await loadSharedSshConfig(file, home);
    expect(new Set([...together, later]).size).toBe(1);
    expect(portOf(later, 'web-1')).toBe('2201');
  });

  it('reads a file again once it changed, includes too', async () => {
    const file = join(home, 'edited.conf');
    const included = join(home, 'included.conf');
    writeFileSync(included, 'Host db-*\n  Port 2301\n', { mode: 0o600 });
    writeFileSync(file, `Include ${included}\n`, { mode: 0o600 });
    const first = await loadSharedSshConfig(file, home);
    expect(portOf(first, 'db-1')).toBe('2301');
    writeFileSync(included, 'Host db-*\n  Port 23010\n', { mode: 0o600 });
    const second = await loadSharedSshConfig(file, home);
    expect(second).not.toBe(first);
    expect(portOf(second, 'db-1')).toBe('23010');
  });

  it('notices a user config that appears after the first read', async () => {
    const first = await loadSharedSshConfig(undefined, home);
    expect(portOf(first, 'late-1')).toBeUndefined();
    writeFileSync(join(home, '.ssh', 'config'), 'Host late-*\n  Port 2401\n', { mode: 0o600 });
    const second = await loadSharedSshConfig(undefined, home);
    expect(portOf(second, 'late-1')).toBe('2401');
  });

  it('does not keep a failed read', async () => {
    const file = join(home, 'missing.conf');
    await expect(loadSharedSshConfig(file, home)).rejects.toThrow(/cannot read/);
    writeFileSync(file, 'Host x\n  Port 2501\n', { mode: 0o600 });
    expect(portOf(await loadSharedSshConfig(file, home), 'x')).toBe('2501');
  });
});
