import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInventory } from './parse-inventory.js';
import { serverDefaults } from './server-defaults.js';
import type { NodeSpec, PoolSpec } from './types.js';

const full = `defaults:
  ssh:
    user: deploy
    port: 22
    identityFile: ~/.ssh/id_ed25519
    knownHosts: /etc/stekctl/known_hosts
    sudo: true
    connectTimeout: 15s
  overlap: 2m
pools:
  web-eu:
    server: nginx
    keyDir: /etc/nginx/tickets/
    reload: systemctl reload nginx
    check: nginx -t
    config: /etc/nginx/nginx.conf
    overlap: 10m
    retain: 2
    keySize: 80
    probe:
      port: 8443
      servername: www.example.com
      versions: ["1.2", TLSv1.3]
      matrixMax: 4
      ca: /etc/ssl/ca.pem
      timeout: 3s
      via: ssh
    nodes:
      - host: 10.0.0.11
      - host: 10.0.0.12
        ssh: { port: 2222 }
        reload: /usr/local/sbin/nginx-reload
`;

function pool(text: string, name: string): PoolSpec {
  const found = parseInventory(text, 'inv.yaml').pools.find((p) => p.name === name);
  if (!found) throw new Error(`no pool ${name}`);
  return found;
}

function node(p: PoolSpec, index: number): NodeSpec {
  const found = p.nodes[index];
  if (!found) throw new Error(`no node ${index}`);
  return found;
}

describe('parseInventory', () => {
  it('reads a full inventory', () => {
    const inventory = parseInventory(full, 'inv.yaml');
    expect(inventory.path).toBe(resolve('inv.yaml'));
    expect(inventory.sha256).toBe(createHash('sha256').update(full).digest('hex'));
    expect(inventory.pools).toHaveLength(1);
    const web = pool(full, 'web-eu');
    expect(web).toMatchObject({
      name: 'web-eu',
      server: 'nginx',
      keySize: 80,
      overlapMs: 600_000,
      retain: 2,
      line: 11,
    });
    expect(node(web, 0)).toEqual({
      name: '10.0.0.11',
      host: '10.0.0.11',
      ssh: {
        user: 'deploy',
        port: 22,
        identityFile: join(homedir(), '.ssh/id_ed25519'),
        knownHosts: '/etc/stekctl/known_hosts',
        sudo: true,
        connectTimeoutMs: 15_000,
        reconnectAfterMs: 300_000,
        explicit: ['user', 'port', 'identityFile', 'connectTimeout'],
      },
      keyDir: '/etc/nginx/tickets',
      reload: 'systemctl reload nginx',
      check: 'nginx -t',
      config: '/etc/nginx/nginx.conf',
      probe: {
        host: '10.0.0.11',
        port: 8443,
        servername: 'www.example.com',
        versions: ['TLSv1.2', 'TLSv1.3'],
        matrixMax: 4,
        ca: '/etc/ssl/ca.pem',
        timeoutMs: 3000,
        via: 'ssh',
      },
      line: 29,
    });
    expect(node(web, 1)).toMatchObject({
      ssh: { port: 2222, user: 'deploy', sudo: true },
      line: 30,
    });
    expect(node(web, 1).reload).toBe('/usr/local/sbin/nginx-reload');
  });

  it('records which ssh settings were written, at any level, so ssh config can fill the rest', () => {
    const text = `defaults:
  ssh: { connectTimeout: 3s }
pools:
  a:
    server: nginx
    ssh: { user: ops }
    nodes:
      - host: web1
        ssh: { port: 2222 }
      - host: web2
`;
    const a = pool(text, 'a');
    expect(node(a, 0).ssh.explicit).toEqual(['user', 'port', 'connectTimeout']);
    expect(node(a, 1).ssh.explicit).toEqual(['user', 'connectTimeout']);
    expect(node(a, 1).ssh.port).toBe(22);
  });

  it('fills in every default', () => {
    const text = 'pools:\n  a:\n    server: nginx\n    nodes:\n      - host: web1.example.net\n';
    const a = pool(text, 'a');
    expect(a).toMatchObject({
      server: 'nginx',
      keySize: 48,
      overlapMs: 60_000,
      retain: 1,
      line: 2,
    });
    expect(node(a, 0)).toEqual({
      name: 'web1.example.net',
      host: 'web1.example.net',
      ssh: {
        user: userInfo().username,
        port: 22,
        identityFile: undefined,
        knownHosts: join(homedir(), '.ssh', 'known_hosts'),
        sudo: false,
        connectTimeoutMs: 10_000,
        reconnectAfterMs: 300_000,
        explicit: [],
      },
      ...serverDefaults.nginx,
      probe: {
        host: 'web1.example.net',
        port: 443,
        servername: undefined,
        versions: ['TLSv1.2', 'TLSv1.3'],
        matrixMax: 8,
        ca: undefined,
        timeoutMs: 5000,
        via: 'direct',
      },
      line: 5,
    });
  });

  it.each([
    ['nginx', 48],
    ['apache', 48],
    ['haproxy', 80],
  ] as const)('uses the %s defaults and a %i-byte key', (kind, size) => {
    const p = pool(`pools:\n  p:\n    server: ${kind}\n    nodes: [{host: h}]\n`, 'p');
    expect(p.keySize).toBe(size);
    const { keyDir, reload, check, config } = node(p, 0);
    expect({ keyDir, reload, check, config }).toEqual(serverDefaults[kind]);
  });

  it('lets the node win over the pool and the pool over defaults, per field', () => {
    const text = `defaults:
  server: haproxy
  reload: reload-all
  check: check-all
  ssh: { user: ops, port: 2200, sudo: true }
  probe: { port: 9443, servername: all.example.com, versions: [1.3] }
pools:
  p:
    reload: reload-pool
    ssh: { port: 2201 }
    probe: { servername: pool.example.com }
    nodes:
      - host: a
      - host: b
        reload: reload-node
        ssh: { port: 2202 }
        probe: { host: 127.0.0.1, versions: ["TLSv1.2"] }
`;
    const p = pool(text, 'p');
    expect(p.server).toBe('haproxy');
    expect(node(p, 0)).toMatchObject({
      reload: 'reload-pool',
      check: 'check-all',
      ssh: { user: 'ops', port: 2201, sudo: true },
      probe: { host: 'a', port: 9443, servername: 'pool.example.com', versions: ['TLSv1.3'] },
    });
    expect(node(p, 1)).toMatchObject({
      reload: 'reload-node',
      check: 'check-all',
      ssh: { user: 'ops', port: 2202, sudo: true },
      probe: {
        host: '127.0.0.1',
        port: 9443,
        servername: 'pool.example.com',
        versions: ['TLSv1.2'],
      },
    });
  });

  it('accepts the spellings of TLS versions and of durations', () => {
    const text = `pools:
  p:
    server: nginx
    overlap: 90
    probe: { versions: [1.2, "1.3"], timeout: 1.5 }
    nodes: [{host: "::1"}, {host: 127.0.0.1}, {host: fe80::1%lo}]
`;
    const p = pool(text, 'p');
    expect(p.overlapMs).toBe(90_000);
    expect(node(p, 0).probe).toMatchObject({ versions: ['TLSv1.2', 'TLSv1.3'], timeoutMs: 1500 });
    expect(p.nodes.map((n) => n.host)).toEqual(['::1', '127.0.0.1', 'fe80::1%lo']);
  });

  it('allows overlap 0 and retain 0, and keeps pools in file order', () => {
    const text =
      'pools:\n  z:\n    server: apache\n    overlap: "0"\n    retain: 0\n    nodes: [{host: a}]\n  a:\n    server: nginx\n    nodes: [{host: a}]\n';
    const inventory = parseInventory(text, 'inv.yaml');
    expect(inventory.pools.map((p) => [p.name, p.overlapMs, p.retain])).toEqual([
      ['z', 0, 0],
      ['a', 60_000, 1],
    ]);
  });

  it('reads sections left empty as no settings', () => {
    const text =
      'defaults:\npools:\n  p:\n    server: nginx\n    ssh:\n    probe:\n    nodes: [{host: a}]\n';
    expect(node(pool(text, 'p'), 0).ssh.port).toBe(22);
  });

  it('follows YAML aliases', () => {
    const text = `defaults:
  ssh: &ssh { user: ops, port: 2222 }
pools:
  p:
    server: nginx
    probe: { host: 127.0.0.1 }
    nodes:
      - &n1 { host: a, ssh: *ssh }
      - { host: b, probe: { port: 8443 } }
`;
    const p = pool(text, 'p');
    expect(node(p, 0).ssh).toMatchObject({ user: 'ops', port: 2222 });
    expect(node(p, 1).probe).toMatchObject({ host: '127.0.0.1', port: 8443 });
  });

  it('reads a 10,000-node list that every node and two pools share through aliases', () => {
    const hosts = Array.from({ length: 10_000 }, (_, i) => `      - { host: h${i}, ssh: *ssh }`);
    const text = `defaults:
  ssh: &ssh { user: ops, port: 2222 }
pools:
  a:
    server: nginx
    nodes: &all
${hosts.join('\n')}
  b:
    server: nginx
    probe: { port: 8443 }
    nodes: *all
`;
    const b = pool(text, 'b');
    expect(b.nodes).toHaveLength(10_000);
    expect(node(b, 9_999)).toMatchObject({ host: 'h9999', ssh: { user: 'ops', port: 2222 } });
  });

  it('loads the example inventory cleanly', () => {
    const path = new URL('../../inventory.example.yaml', import.meta.url);
    const inventory = parseInventory(readFileSync(path, 'utf8'), 'inventory.example.yaml');
    expect(inventory.pools.map((p) => [p.name, p.server, p.keySize])).toEqual([
      ['web-eu', 'nginx', 80],
      ['shop-apache', 'apache', 48],
      ['edge-haproxy', 'haproxy', 80],
    ]);
    const edge = inventory.pools[2];
    expect(edge?.nodes[1]).toMatchObject({ host: '2001:db8::11', keyDir: '/srv/haproxy/tickets' });
    expect(edge?.nodes[0]?.probe).toMatchObject({ host: '2001:db8::10', port: 8443, via: 'ssh' });
  });
});
