import { NodeSSH } from 'node-ssh';
import type { NodeSpec } from '../inventory/types.js';
import { OperationError } from '../errors.js';
import { describeConnectFailure } from './connect-failure.js';
import { CommandTimeoutError, ConnectError, formatHostPort } from './errors.js';
import {
  createHostKeyVerifier,
  hostKeyAlgorithmOrder,
  readKnownHosts,
} from './host-key-verifier.js';
import { stripBrackets } from './host-patterns.js';
import { knownKeyTypes } from './known-hosts.js';
import { quoteShell } from './shell.js';
import { planAuth } from './ssh-auth.js';
import type { Ssh2Channel, Ssh2Client } from './ssh2-types.js';

export interface ExecResult {
  /** Exit status; null when the command died of a signal or sshd sent no status. */
  code: number | null;
  /** The signal that ended the command, as Node names them ('SIGKILL'). */
  signal: string | null;
  stdout: string;
  stderr: string;
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
  exec(
    command: string,
    opts?: { stdin?: string | Buffer; timeoutMs?: number },
  ): Promise<ExecResult>;
  close(): Promise<void>;
}

/** Dead connections (a node that vanished without closing TCP) are noticed within ~20 s. */
const keepaliveIntervalMs = 5_000;
const keepaliveCountMax = 3;
/** How long close() waits for a polite disconnect before dropping the socket. */
const closeGraceMs = 2_000;

/**
 * Connects and logs in to one node. The host key is checked against node.ssh.knownHosts during
 * the key exchange, before authentication, so a refused key means nothing ran on the node.
 */
export async function openSession(
  node: NodeSpec,
  opts: { acceptNewHostKey?: boolean; signal?: AbortSignal } = {},
): Promise<RemoteSession> {
  const host = stripBrackets(node.host);
  const port = node.ssh.port;
  const where = formatHostPort(host, port);
  const cancelled = (): ConnectError =>
    new ConnectError(node.name, `connecting to ${where} was cancelled`);
  if (opts.signal?.aborted) throw cancelled();

  const knownText = await readKnownHosts(node.name, node.ssh.knownHosts);
  const auth = await planAuth(node);
  const verifier = createHostKeyVerifier({
    node: node.name,
    host,
    port,
    file: node.ssh.knownHosts,
    text: knownText,
    acceptNew: opts.acceptNewHostKey ?? false,
  });
  const serverHostKey = hostKeyAlgorithmOrder(knownKeyTypes(knownText, host, port));
  if (opts.signal?.aborted) throw cancelled();
  const ssh = new NodeSSH();
  let aborted = false;
  const onAbort = (): void => {
    aborted = true;
    (ssh.connection as Ssh2Client | null)?.destroy();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await ssh.connect({
      host,
      port,
      username: node.ssh.user,
      readyTimeout: node.ssh.connectTimeoutMs,
      keepaliveInterval: keepaliveIntervalMs,
      keepaliveCountMax,
      // Without `hostHash`, ssh2 hands the verifier the raw key blob.
      hostVerifier: verifier.verify,
      ...(serverHostKey ? { algorithms: { serverHostKey } } : {}),
      ...auth.config,
    });
  } catch (err) {
    ssh.dispose();
    if (verifier.refusal) throw verifier.refusal;
    if (aborted) throw cancelled();
    throw describeConnectFailure(err, {
      node: node.name,
      host,
      port,
      user: node.ssh.user,
      timeoutMs: node.ssh.connectTimeoutMs,
      tried: auth.tried,
      identityFile: auth.identityFile,
    });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  // node-ssh's execCommand takes no Buffer stdin and reports a lost connection as a normal end
  // (code null), so commands run on the ssh2 client it holds.
  return new SshSession(node.name, where, node.ssh.sudo, ssh.connection as Ssh2Client);
}

class SshSession implements RemoteSession {
  readonly node: string;
  readonly #where: string;
  readonly #sudo: boolean;
  readonly #client: Ssh2Client;
  /** The socket ended or closed: no command can start or finish any more. */
  #ended = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(node: string, where: string, sudo: boolean, client: Ssh2Client) {
    this.node = node;
    this.#where = where;
    this.#sudo = sudo;
    this.#client = client;
    // After login, failures (keepalive timeout, reset) also end the socket: commands then
    // report the lost connection. The listener keeps an 'error' event from being unhandled.
    client.on('error', () => undefined);
    client.on('end', () => {
      this.#ended = true;
    });
    client.on('close', () => {
      this.#ended = true;
      this.#closed = true;
    });
  }

  exec(
    command: string,
    opts: { stdin?: string | Buffer; timeoutMs?: number } = {},
  ): Promise<ExecResult> {
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
        ch.on('data', (chunk: Buffer) => stdout.push(chunk));
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
    this.#closing ??= new Promise<void>((resolve) => {
      if (this.#closed) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.#client.destroy();
        resolve();
      }, closeGraceMs);
      this.#client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.#client.end();
    });
    return this.#closing;
  }
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
