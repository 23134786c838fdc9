/**
 * stekctl/node: keeps the session ticket key of a Node.js TLS or HTTPS server equal to the one
 * stekctl rotates in a node pool's key directory.
 *
 *   import { useTicketKeys } from 'stekctl/node';
 *   const server = https.createServer({ key, cert, sessionIdContext: 'shop' }, app);
 *   useTicketKeys(server, { keyDir: '/etc/stekctl/node-tickets', onError: (e) => log(e.message) });
 *   server.listen(443);
 */
export {
  useTicketKeys,
  type KeyLoadedEvent,
  type TicketKeyOptions,
  type TicketKeyWatch,
} from './use-ticket-keys.js';
export { defaultSessionIdContext, findTicketTraps } from './traps.js';
export {
  keyDirective,
  managedFileName,
  parseManagedFile,
  renderManagedFile,
} from './managed-file.js';
export { nodeKeySize } from './key-source.js';
export { OperationError, StekError } from '../errors.js';
