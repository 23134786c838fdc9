import type { ServerKind } from './types.js';

/** What each kind of server gets when the inventory does not say otherwise. */
export interface ServerDefault {
  keyDir: string;
  reload: string;
  check: string;
  config: string;
}

/** Debian/Ubuntu package layouts; other layouts set the fields in the inventory. */
export const serverDefaults: Record<ServerKind, ServerDefault> = {
  nginx: {
    keyDir: '/etc/nginx/tickets',
    reload: 'systemctl reload nginx',
    check: 'nginx -t',
    config: '/etc/nginx/nginx.conf',
  },
  apache: {
    keyDir: '/etc/apache2/tickets',
    reload: 'systemctl reload apache2',
    check: 'apache2ctl -t',
    config: '/etc/apache2/apache2.conf',
  },
  haproxy: {
    keyDir: '/etc/haproxy/tickets',
    reload: 'systemctl reload haproxy',
    check: 'haproxy -c -f /etc/haproxy/haproxy.cfg',
    config: '/etc/haproxy/haproxy.cfg',
  },
  // Node.js processes read the key through useTicketKeys ('stekctl/node'), which watches keyDir:
  // nothing to reload or test, and no config file (config is not read; it names keyDir).
  node: {
    keyDir: '/etc/stekctl/node-tickets',
    reload: 'true',
    check: 'true',
    config: '/etc/stekctl/node-tickets',
  },
};
