import { describe, expect, it } from 'vitest';
import { parseInventory } from './parse-inventory.js';

describe('runtimeApi', () => {
  it('reaches the nodes of haproxy pools, with a per-node override or opt-out', () => {
    const inv = parseInventory(
      `defaults:
  runtimeApi: /run/haproxy/admin.sock
pools:
  lb:
    server: haproxy
    nodes:
      - host: 10.0.0.1
      - host: 10.0.0.2
        runtimeApi: /run/haproxy/other.sock
      - host: 10.0.0.3
        runtimeApi: false
  web:
    server: nginx
    nodes:
      - host: 10.0.0.4
`,
      'inv.yaml',
    );
    const [lb, web] = inv.pools;
    expect(lb?.nodes.map((n) => n.runtimeApi)).toEqual([
      '/run/haproxy/admin.sock',
      '/run/haproxy/other.sock',
      undefined,
    ]);
    // Under defaults it only reaches haproxy pools.
    expect(web?.nodes[0]?.runtimeApi).toBeUndefined();
  });
});
