import type { NodeSpec } from '../inventory/types.js';
import { OperationError } from '../errors.js';
import { CommandTimeoutError, ConnectError } from './errors.js';
import { connectTarget } from './jump.js';
import { quoteShell } from './shell.js';
import { loadSharedSshConfig } from './ssh-config-cache.js';
import { resolveSshTarget } from './ssh-target.js';
import type { Ssh2Channel, Ssh2Client } from './ssh2-types.js';

export interface ExecResult {
  /** Exit status; null when the command died of a signal or sshd sent no status. */
  code: number | null;
  /** The signal that ended the command, as Node names them ('SIGKILL'). */
  signal: string | null;
  stdout: string;
  stderr: string;
  /** When (ms since the epoch) stdout first carried ExecOptions.markAt, as this side saw it. */
  markedAt?: number;
}

export interface ExecOptions {
  stdin?: string | Buffer;
  timeoutMs?: number;
  /**
   * A string the command prints at a moment worth timing (a reload): its arrival is stamped
   * here, which saves the node a `date` process.
   */
  markAt?: string;
}

export interface RemoteSession {
  /** NodeSpec.name, for messages. */
  readonly node: string;
  /**
   * Runs one command (through `sudo -n sh -c` when the node says so) and collects its output.
   * Rejects with ConnectError if the connection is lost before the command finishes, and with
   * CommandTimeoutError after `timeoutMs`. Up to sshd's MaxSessions (10 by default) may run at
   * once on one session.
   */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
  /** False once the connection ended, dropped or was closed: no command can run on it any more. */
  readonly open: boolean;
}

/** How long close() waits for a polite disconnect before dropping the socket. */
const closeGraceMs = 2_000;

/**
 * Connects and logs in to one node, honouring the OpenSSH client config (node.ssh.configFile:
 * HostName, User, Port, IdentityFile, ProxyJump...; the inventory's own settings win, see
 * resolveSshTarget). Host keys, of the node and of every jump host, are checked against
 * node.ssh.knownHosts during the key exchange, before authentication, so a refused key means
 * nothing ran there.
 */
export async function openSession(
  node: NodeSpec,
  opts: { acceptNewHostKey?: boolean; signal?: AbortSignal } = {},
): Promise<RemoteSession> {
  const config = await loadSharedSshConfig(node.ssh.configFile);
  const target = resolveSshTarget(node, config);
  const { client, hops } = await connectTarget(node.name, target, {
    acceptNewHostKey: opts.acceptNewHostKey ?? false,
    signal: opts.signal,
  });
  // node-ssh's execCommand takes no Buffer stdin and reports a lost connection as a normal end
  // (code null), so commands run on the ssh2 client it holds.
  return new SshSession(node.name, target.label, node.ssh.sudo, client, hops);
}

class SshSession implements RemoteSession {
  readonly node: string;
  readonly #where: string;
  readonly #sudo: boolean;
  readonly #client: Ssh2Client;
  /** Jump host connections, closed once the node's connection is. */
  readonly #hops: Ssh2Client[];
  readonly #hopsClosed = new Set<Ssh2Client>();
  /** The socket ended or closed: no command can start or finish any more. */
  #ended = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(node: string, where: string, sudo: boolean, client: Ssh2Client, hops: Ssh2Client[]) {
    this.node = node;
    this.#where = where;
    this.#sudo = sudo;
    this.#client = client;
    this.#hops = hops;
    for (const hop of hops) hop.once('close', () => this.#hopsClosed.add(hop));
    // After login, failures (keepalive timeout, reset) also end the socket: commands then
    // report the lost connection. The listener keeps an 'error' event from being unhandled.
    client.on('error', () => undefined);
    client.on('end', () => {
      this.#ended = true;
    });
    client.on('close', () => {
      this.#ended = true;
      this.#closed = true;
      // Jump hosts only carried this connection: the nearest first, as their channels nest.
      for (const hop of [...this.#hops].reverse()) hop.end();
    });
  }

  get open(): boolean {
    return !this.#ended && !this.#closing;
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const label = command.slice(0, 60);
    const remote = this.#sudo ? `sudo -n sh -c ${quoteShell(command)}` : command;
    const lost = (when: string): ConnectError =>
      new ConnectError(this.node, `connection to ${this.#where} lost ${when}: ${label}`);
    return new Promise<ExecResult>((resolve, reject) => {
      if (this.#closing) {
        reject(
          new ConnectError(this.node, `session to ${this.#where} is closed; not run: ${label}`),
        );
        return;
      }
      if (this.#ended) {
        reject(lost('before'));
        return;
      }
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let channel: Ssh2Channel | undefined;
      let exit: { code: number | null; signal: string | null } | undefined;
      let eof = false;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let markedAt: number | undefined;
      let tail = '';
      const watch = (chunk: Buffer): void => {
        const mark = opts.markAt;
        if (mark === undefined || markedAt !== undefined) return;
        // The marker may straddle two chunks: the end of the last one is kept for the check.
        const text = tail + chunk.toString('latin1');
        if (text.includes(mark)) markedAt = Date.now();
        else tail = text.slice(-mark.length);
      };
      const settle = (finish: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        finish();
      };
      const finishAfterClose = (): void => {
        // Without the exit status and EOF, output may be cut short: only a live connection
        // makes that a normal (if status-less) end.
        if (this.#ended && !(exit && eof)) {
          reject(lost('during'));
          return;
        }
        resolve({
          code: exit?.code ?? null,
          signal: exit?.signal ?? null,
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
          ...(markedAt !== undefined ? { markedAt } : {}),
        });
      };
      if (opts.timeoutMs !== undefined) {
        const timeoutMs = opts.timeoutMs;
        timer = setTimeout(() => {
          settle(() => {
            if (channel) stopChannel(channel);
            reject(
              new CommandTimeoutError(
                this.node,
                timeoutMs,
                `command on ${this.#where} timed out after ${timeoutMs} ms and was stopped: ${label}`,
              ),
            );
          });
        }, timeoutMs);
      }
      const onChannel = (err: Error | undefined, ch: Ssh2Channel): void => {
        if (err) {
          settle(() =>
            reject(
              this.#ended
                ? lost('before')
                : new OperationError(`cannot start a command on ${this.#where}: ${err.message}`),
            ),
          );
          return;
        }
        channel = ch;
        if (settled) {
          stopChannel(ch);
          return;
        }
        ch.on('data', (chunk: Buffer) => {
          stdout.push(chunk);
          watch(chunk);
        });
        ch.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        ch.on('error', () => undefined);
        ch.on('end', () => {
          eof = true;
        });
        ch.on('exit', (code: unknown, signal: unknown) => {
          exit = {
            code: typeof code === 'number' ? code : null,
            signal: typeof signal === 'string' ? signal : null,
          };
        });
        ch.on('close', () => {
          // ssh2 reports the socket's end before it closes the channels of a dropped connection;
          // one more turn makes sure that report has been seen.
          if (exit && eof) settle(finishAfterClose);
          else setImmediate(() => settle(finishAfterClose));
        });
        // Stdin is always closed, so a command that reads it sees EOF instead of waiting.
        if (opts.stdin !== undefined) ch.end(opts.stdin);
        else ch.end();
      };
      try {
        this.#client.exec(remote, onChannel);
      } catch {
        settle(() => reject(lost('before')));
      }
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await closeClient(this.#client, this.#closed);
      // The nearest jump host first: its channel runs inside the ones before it.
      for (const hop of [...this.#hops].reverse())
        await closeClient(hop, this.#hopsClosed.has(hop));
    })();
    return this.#closing;
  }
}

/** Ends a connection politely, dropping it after closeGraceMs; resolves once it is closed. */
function closeClient(client: Ssh2Client, closed: boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    if (closed) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      client.destroy();
      resolve();
    }, closeGraceMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    client.end();
  });
}

/**
 * Kills a command and closes its channel. ssh2's Channel.signal() refuses once stdin is closed
 * (always the case here), so the request goes through the protocol object when it is there;
 * sshd then signals the command's whole process group. Closing alone would leave it running.
 */
function stopChannel(ch: Ssh2Channel): void {
  try {
    const id = ch.outgoing?.id;
    const state = ch.outgoing?.state;
    const protocol = ch._client?._protocol;
    // 'eof' is our side having sent EOF: requests may still follow it.
    if ((state === 'open' || state === 'eof') && id !== undefined && protocol?.signal) {
      protocol.signal(id, 'KILL');
    }
  } catch {
    // Best effort: closing the channel below still ends the exchange.
  }
  try {
    ch.close();
  } catch {
    // Already closed.
  }
}
