import { constants, createHash } from 'node:crypto';
import type { Server } from 'node:tls';

/**
 * Settings that make sessions fail to resume across processes whatever the ticket key. Node keeps
 * the options it was created with on the server object (undocumented, so read defensively).
 */
interface ServerOptionsSeen {
  sessionIdContext?: unknown;
  secureOptions?: unknown;
}

/**
 * The session-id context Node derives when none is given: a hash of the process arguments. Cluster
 * workers share their primary's arguments, but two nodes started from different paths or with
 * different flags do not, and OpenSSL refuses a session from another context.
 */
export function defaultSessionIdContext(argv: readonly string[] = process.argv): string {
  return createHash('sha1').update(argv.join(' ')).digest('hex').slice(0, 32);
}

/** Plain sentences naming each trap found on `server`; empty when none is seen. */
export function findTicketTraps(server: Server, argv: readonly string[] = process.argv): string[] {
  const seen = server as unknown as ServerOptionsSeen;
  const traps: string[] = [];
  const options = typeof seen.secureOptions === 'number' ? seen.secureOptions : 0;
  if ((options & constants.SSL_OP_NO_TICKET) !== 0) {
    traps.push(
      'session tickets are disabled (SSL_OP_NO_TICKET in secureOptions): the server issues no tickets, so no shared key can make its sessions resume elsewhere; remove the flag',
    );
  }
  const context = seen.sessionIdContext;
  if (typeof context === 'string' && context === defaultSessionIdContext(argv)) {
    traps.push(
      "sessionIdContext is not set: Node derives it from the process arguments, so nodes started with different arguments never resume each other's sessions; pass the same sessionIdContext (up to 32 characters) on every node",
    );
  }
  return traps;
}
