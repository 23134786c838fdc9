/**
 * The few parts of ssh2's Client and Channel that stekctl uses. node-ssh hands out its ssh2
 * Client untyped (ssh2 ships no declarations), so these describe what ssh2 1.x provides.
 */
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

export interface Ssh2Client extends EventEmitter {
  exec(command: string, callback: (err: Error | undefined, channel: Ssh2Channel) => void): void;
  /** Opens a `direct-tcpip` channel: the server connects to dstIP:dstPort for us. */
  forwardOut(
    srcIP: string,
    srcPort: number,
    dstIP: string,
    dstPort: number,
    callback: (err: Error | undefined, stream: Duplex) => void,
  ): void;
  end(): void;
  destroy(): void;
  /** Sets TCP_NODELAY on the client's socket; does nothing over a forwarded channel. */
  setNoDelay(noDelay?: boolean): void;
}

export interface Ssh2Channel extends EventEmitter {
  readonly stderr: EventEmitter;
  end(data?: string | Buffer): void;
  close(): void;
  readonly outgoing?: { id?: number; state?: string };
  readonly _client?: { _protocol?: { signal?: (id: number, name: string) => void } };
}

/** One entry of ssh2's `authHandler` list, tried in order. */
export type AuthMethod =
  /** `key`: the key file's text, or the key ssh2 parsed from it (identity-keys.ts). */
  | { type: 'publickey'; username: string; key: string | object }
  | { type: 'agent'; username: string; agent: string };
