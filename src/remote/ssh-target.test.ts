import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSpec, PoolSpec, SshConfigurableField } from '../inventory/types.js';
import { parseSshConfigText, SshConfigError } from './ssh-config.js';
import { parseJumpSpec } from './ssh-config-values.js';
import { resolveSshTarget, useSshConfig, type SshEnvironment } from './ssh-target.js';

const env: SshEnvironment = {
  home: '/home/me',
  localUser: 'me',
  localHost: 'laptop.example.net',
  vars: { SSH_AUTH_SOCK: '/run/agent.sock', KEYS: '/keys' },
};

function node(
  host: string,
  explicit: SshConfigurableField[] | undefined,
  ssh: Partial<NodeSpec['ssh']> = {},
): NodeSpec {
  return {
    name: host,
    host,
    ssh: {
      user: 'me',
      port: 22,
      identityFile: undefined,
      knownHosts: '/kh',
      sudo: false,
      connectTimeoutMs: 10_000,
      explicit,
      ...ssh,
    },
    probe: { host },
  } as NodeSpec;
}

const config = parseSshConfigText(
  `Host web-1
  HostName 10.0.0.11
  User deploy
  Port 2201
  IdentityFile %d/.ssh/%r@%h
  IdentityFile \${KEYS}/%u-%n-%p
  ConnectTimeout 3
Host web-2
  HostName 10.0.0.12
  ProxyJump ops@bastion:2022
Host web-3
  ProxyJump a,ssh://b,[::1]:2200
Host a
  ProxyJump c
Host b
  ProxyJump never-used
Host bastion
  HostName 192.0.2.1
  Port 22
  IdentityFile ~/.ssh/bastion
  IdentityAgent none
Host aliased
  HostKeyAlias cluster-key
Host cmd
  ProxyCommand nc %h %p
Host cmd-none
  ProxyCommand none
  ProxyJump bastion
Host loop-1
  ProxyJump loop-2
Host loop-2
  ProxyJump loop-1
Host badport
  Port 70000
Host badtoken
  IdentityFile ~/%Z
`,
  'cfg',
);

describe('resolveSshTarget', () => {
  it('takes HostName, User, Port, IdentityFile and ConnectTimeout from the ssh config when the inventory is silent', () => {
    const t = resolveSshTarget(node('web-1', []), config, env);
    expect(t).toMatchObject({
      alias: 'web-1',
      label: 'web-1 (10.0.0.11:2201)',
      host: '10.0.0.11',
      port: 2201,
      user: 'deploy',
      identityFiles: ['/home/me/.ssh/deploy@10.0.0.11', '/keys/me-web-1-2201'],
      identityRequired: false,
      agent: '/run/agent.sock',
      hostKey: { host: '10.0.0.11', port: 2201 },
      connectTimeoutMs: 3000,
      jumps: [],
      knownHosts: '/kh',
    });
  });

  it('lets every setting the inventory wrote win over the ssh config', () => {
    const explicit = node('web-1', ['user', 'port', 'identityFile', 'connectTimeout'], {
      user: 'root',
      port: 22022,
      identityFile: '/inv/key',
      connectTimeoutMs: 5000,
    });
    expect(resolveSshTarget(explicit, config, env)).toMatchObject({
      host: '10.0.0.11',
      port: 22022,
      user: 'root',
      identityFiles: ['/inv/key'],
      identityRequired: true,
      hostKey: { host: '10.0.0.11', port: 22022 },
      connectTimeoutMs: 5000,
    });
    // A hand-made NodeSpec (no record of what was written) keeps all of its settings.
    expect(resolveSshTarget(node('web-1', undefined), config, env)).toMatchObject({
      port: 22,
      user: 'me',
    });
  });

  it('resolves a ProxyJump host through the ssh config, with the user and port of the entry', () => {
    const t = resolveSshTarget(node('web-2', [], { identityFile: '/inv/key' }), config, env);
    expect(t.hostKey).toEqual({ host: '10.0.0.12', port: 22 });
    expect(t.jumps).toEqual([
      {
        alias: 'bastion',
        label: 'jump host bastion (192.0.2.1:2022)',
        host: '192.0.2.1',
        port: 2022,
        user: 'ops',
        identityFiles: ['/home/me/.ssh/bastion'],
        identityRequired: false,
        identitiesOnly: false,
        agent: undefined,
        hostKey: { host: '192.0.2.1', port: 2022 },
        connectTimeoutMs: 10_000,
      },
    ]);
  });

  it('offers the inventory key to jump hosts after their own', () => {
    const t = resolveSshTarget(
      node('web-2', ['identityFile'], { identityFile: '/k' }),
      config,
      env,
    );
    expect(t.jumps[0]?.identityFiles).toEqual(['/home/me/.ssh/bastion', '/k']);
  });

  it('chains several hops as ssh does: the first hop keeps its own ProxyJump, later ones do not', () => {
    const t = resolveSshTarget(node('web-3', []), config, env);
    expect(t.jumps.map((j) => [j.alias, j.host, j.port, j.user])).toEqual([
      ['c', 'c', 22, 'me'],
      ['a', 'a', 22, 'me'],
      ['b', 'b', 22, 'me'],
      ['::1', '::1', 2200, 'me'],
    ]);
  });

  it('checks host keys under HostKeyAlias alone when set', () => {
    const t = resolveSshTarget(node('aliased', [], { port: 2222 }), config, env);
    expect(t.hostKey).toEqual({ host: 'cluster-key', port: 22 });
  });

  it('refuses ProxyCommand, stops loops, and names the file for bad values', () => {
    expect(() => resolveSshTarget(node('cmd', []), config, env)).toThrow(
      /ssh config cfg: cmd: ProxyCommand is not supported/,
    );
    expect(resolveSshTarget(node('cmd-none', []), config, env).jumps).toEqual([]);
    expect(() => resolveSshTarget(node('loop-1', []), config, env)).toThrow(/longer than 8 hops/);
    expect(() => resolveSshTarget(node('badport', []), config, env)).toThrow(
      'ssh config cfg: Port "70000" is not a port number (1-65535)',
    );
    expect(() => resolveSshTarget(node('badtoken', []), config, env)).toThrow(
      /unsupported token %Z/,
    );
  });
});

describe('parseJumpSpec', () => {
  it('reads the forms ssh accepts', () => {
    expect(parseJumpSpec('host', 'f')).toEqual({ user: undefined, host: 'host', port: undefined });
    expect(parseJumpSpec('u@h:22', 'f')).toEqual({ user: 'u', host: 'h', port: 22 });
    expect(parseJumpSpec('ssh://u@h:2022', 'f')).toEqual({ user: 'u', host: 'h', port: 2022 });
    expect(parseJumpSpec('[fe80::1]:2200', 'f')).toEqual({
      user: undefined,
      host: 'fe80::1',
      port: 2200,
    });
    expect(parseJumpSpec('::1', 'f').host).toBe('::1');
    expect(() => parseJumpSpec('@h', 'f')).toThrow(SshConfigError);
    expect(() => parseJumpSpec('h:0', 'f')).toThrow(/not a port number/);
  });
});

describe('useSshConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stekctl-usecfg-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('points every node at the file and reports a problem before anything is contacted', async () => {
    const file = join(dir, 'config');
    writeFileSync(file, 'Host web-*\n  HostName 127.0.0.1\n');
    const pools = [{ name: 'p', nodes: [node('web-1', []), node('web-2', [])] }] as PoolSpec[];
    await useSshConfig(pools, file, { ...env, home: dir });
    expect(pools[0]?.nodes.map((n) => n.ssh.configFile)).toEqual([file, file]);
    // Probes go where ssh connects when the alias was all the inventory said.
    expect(pools[0]?.nodes.map((n) => n.probe.host)).toEqual(['127.0.0.1', '127.0.0.1']);

    writeFileSync(file, 'Host web-2\n  ProxyCommand ssh -W %h:%p jump\n');
    await expect(useSshConfig(pools, file, { ...env, home: dir })).rejects.toThrow(
      /web-2: ProxyCommand is not supported/,
    );
    await expect(useSshConfig(pools, join(dir, 'missing'), env)).rejects.toThrow(
      /cannot read it: no such file/,
    );
  });
});
