import { connect as connectTcp, createServer } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';

type Attempt = () => Promise<void>;

/** False once the process being waited for has died: waiting longer cannot help. */
export type AliveCheck = () => boolean;

async function retryUntil(
  what: string,
  timeoutMs: number,
  attempt: Attempt,
  alive?: AliveCheck,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      await attempt();
      return;
    } catch (e) {
      last = e;
    }
    if (alive && !alive()) throw new Error(`${what}: the process exited`);
    if (Date.now() >= deadline) {
      const reason = last instanceof Error ? last.message : String(last);
      throw new Error(`${what}: not ready after ${timeoutMs} ms (${reason})`);
    }
    await sleep(40);
  }
}

/** Resolves once the peer sends an SSH identification line. */
function readSshBanner(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connectTcp({ host, port });
    let seen = '';
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      reject(err);
    };
    sock.setTimeout(2000, () => fail(new Error('no banner')));
    sock.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (settled || !seen.includes('SSH-2.0-')) return;
      settled = true;
      sock.setTimeout(0);
      // Answering with an identification keeps sshd from logging an error for the probe.
      sock.end('SSH-2.0-fleet-probe\r\n');
      sock.resume();
      resolve();
    });
    sock.on('error', (e) => fail(e));
    sock.on('end', () => fail(new Error('closed before the banner')));
  });
}

/** Resolves once a full TLS handshake completes (the certificate is not checked here). */
function handshake(host: string, port: number, servername: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connectTls({ host, port, servername, rejectUnauthorized: false });
    const done = (err?: Error): void => {
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    sock.setTimeout(2000, () => done(new Error('handshake timeout')));
    sock.once('secureConnect', () => done());
    sock.on('error', done);
  });
}

export function waitForSsh(
  host: string,
  port: number,
  timeoutMs: number,
  alive?: AliveCheck,
): Promise<void> {
  return retryUntil(`sshd on ${host}:${port}`, timeoutMs, () => readSshBanner(host, port), alive);
}

export function waitForTls(
  host: string,
  port: number,
  servername: string,
  timeoutMs: number,
  alive?: AliveCheck,
): Promise<void> {
  const attempt = (): Promise<void> => handshake(host, port, servername);
  return retryUntil(`TLS server on ${host}:${port}`, timeoutMs, attempt, alive);
}

/** Polls `check` until it returns true. */
export async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
): Promise<void> {
  await retryUntil(what, timeoutMs, async () => {
    if (!(await check())) throw new Error('condition not met');
  });
}

/** True when nothing listens on host:port and we may bind it. */
export function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
