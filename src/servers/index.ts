import type { ServerKind } from '../inventory/types.js';
import { apacheAdapter } from './apache.js';
import { haproxyAdapter } from './haproxy.js';
import { nginxAdapter } from './nginx.js';
import { nodeAdapter } from './node.js';
import type { ServerAdapter } from './types.js';

const adapters: Record<ServerKind, ServerAdapter> = {
  nginx: nginxAdapter,
  apache: apacheAdapter,
  haproxy: haproxyAdapter,
  node: nodeAdapter,
};

export function adapterFor(kind: ServerKind): ServerAdapter {
  return adapters[kind];
}

export type * from './types.js';
