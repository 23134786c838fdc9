import { connect } from 'node:tls';
import type { TlsVersion } from '../inventory/types.js';
import { readKeyId, readSessionTicket } from '../probe/session-ticket.js';
import type { FleetNode } from './types.js';

/** One request to a Node.js fleet node, and what its answer says about the worker behind it. */
export interface NodeAnswer {
  reused: boolean;
  /** The node's name and worker id as the worker itself reported them. */
  node: string;
  worker: number;
  /** Name of the ticket key the worker encrypts with (its own random one until stekctl's). */
  workerKeyId: string;
  /** Id of the key the ticket of this connection is under (the ticket's first 16 bytes). */
  ticketKeyId: string | undefined;
  /** The session to offer next time (TLS 1.3: the last ticket received). */
  session: Buffer | undefined;
}

/**
 * Sends `GET /` over TLS at exactly `version` (offering `session` if given) and reads the whole
 * answer `node <name> worker <id> key <keyId>`. The certificate is not checked: the fleet's own.
 */
export function askNode(
  node: FleetNode,
  version: TlsVersion,
  session?: Buffer,
  timeoutMs = 10_000,
): Promise<NodeAnswer> {
  return new Promise((resolve, reject) => {
    const sessions: Buffer[] = [];
    let body = '';
    let reused = false;
    let settled = false;
    const socket = connect({
      host: node.host,
      port: node.tlsPort,
      servername: node.servername,
      minVersion: version,
      maxVersion: version,
      session,
      rejectUnauthorized: false,
    });
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new Error(`${node.name} ${version}: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('secureConnect', () => {
      reused = socket.isSessionReused();
      if (version === 'TLSv1.2') sessions.push(socket.getSession() as Buffer);
      socket.write(`GET / HTTP/1.1\r\nHost: ${node.servername}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('session', (s: Buffer) => sessions.push(s));
    socket.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    socket.on('error', fail);
    socket.on('close', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const m = /node (\S+) worker (\d+) key (\S+)/.exec(body);
      if (!m) {
        reject(new Error(`${node.name} ${version}: unexpected answer ${JSON.stringify(body)}`));
        return;
      }
      const last = sessions[sessions.length - 1];
      resolve({
        reused,
        node: m[1] as string,
        worker: Number(m[2]),
        workerKeyId: m[3] as string,
        ticketKeyId: last ? readKeyId(readSessionTicket(last)?.ticket) : undefined,
        session: last,
      });
    });
  });
}
