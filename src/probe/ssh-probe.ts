import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { TlsVersion } from '../inventory/types.js';
import type { RemoteSession } from '../remote/ssh-session.js';
import { quoteShell } from '../remote/shell.js';
import { failProbeAt, ProbeError } from './probe-error.js';
import { formatAddress, type ProbeTarget } from './probe-target.js';
import { readKeyId } from './session-ticket.js';
import {
  describeClientFailure,
  handshakeDone,
  parseClientReport,
  splitSections,
  type ClientReport,
} from './ssh-probe-output.js';
import type { ProbeCallOptions, ResumeResult, TicketSample } from './tls-probe.js';
import type { Prober } from './verify-pool.js';

/**
 * Probes run with `openssl s_client` on one node of the pool, over SSH, for pools whose TLS port
 * this machine cannot reach. Session files stay in a private directory on that node; only
 * s_client's verdict line, the certificate's fingerprint and the ticket's hex dump come back
 * (never the session's secrets), and the key id is read from the dump here.
 */
export interface SshProber extends Prober {
  /** The node the handshakes run on. */
  readonly node: string;
  /** The private directory on that node that holds the session files until close(). */
  readonly dir: string;
  /** Removes the session directory; never rejects. */
  close(): Promise<void>;
}

/**
 * Handshakes to run at once on the probing node. Those asked for together go over one SSH
 * command: a command costs a login shell on the node, often more than the handshake itself.
 */
export const sshProbeConcurrency = 16;

/** Bound on the commands that create and remove the session directory. */
const setupTimeoutMs = 15_000;
/** Beyond `timeout`'s own limit, for SSH and the commands around s_client. */
const execMarginMs = 5_000;
/** Arguments per handshake in the batch script's command line. */
const argsPerProbe = 10;

const setupScript = `for c in openssl timeout mktemp base64 sha256sum; do
  command -v "$c" >/dev/null 2>&1 || { echo "$c is not installed" >&2; exit 127; }
done
umask 077
mktemp -d "\${TMPDIR:-/tmp}/stekctl-probe.XXXXXXXX"`;

/**
 * Runs handshakes in parallel, each bounded by `timeout`, and prints per handshake a section
 * `@ <id>` of tagged lines (see ssh-probe-output.ts); the certificate's fingerprint only after a
 * full handshake without an offered ticket, since only those are compared. A request follows each handshake so that
 * TLS 1.3 tickets arrive (HAProxy sends them only after application data); -ign_eof keeps
 * s_client reading until the server closes. `-reconnect` is not used: it fails with TLS 1.3.
 */
const batchScript = `umask 077
d=$1; shift
probe() {
  addr=$1 ver=$2 secs=$3 sni=$4 hdr=$5 ca=$6 vflag=$7 vname=$8 out=$d/$9 in=\${10}
  set -- -connect "$addr" "-$ver" -ign_eof -sess_out "$out"
  if [ -n "$sni" ]; then set -- "$@" -servername "$sni"; else set -- "$@" -noservername; fi
  if [ -n "$in" ]; then set -- "$@" -sess_in "$d/$in"; fi
  if [ -n "$ca" ]; then set -- "$@" -CAfile "$d/$ca" -verify_return_error "$vflag" "$vname"; fi
  printf 'GET / HTTP/1.1\\r\\nHost: %s\\r\\nUser-Agent: stekctl\\r\\nConnection: close\\r\\n\\r\\n' "$hdr" |
    timeout -k 1 "$secs" openssl s_client "$@" >"$out.txt" 2>"$out.err"
  echo "rc $?"
  grep -m 1 -E '^(New|Reused), ' "$out.txt" | sed 's/^/handshake /'
  if [ -z "$in" ]; then
    sed -n '/^-----BEGIN CERTIFICATE-----$/,/^-----END CERTIFICATE-----$/p' "$out.txt" |
      sed '1d;$d' | base64 -d 2>/dev/null | sha256sum | awk '{ print "cert " $1 }'
  fi
  if [ -s "$out" ]; then
    timeout -k 1 10 openssl sess_id -in "$out" -noout -text 2>/dev/null | awk '
      /TLS session ticket lifetime hint:/ { print "hint " $6 }
      /TLS session ticket:/ { t = 1; next }
      t && /^ *[0-9a-f]+ - / { print "ticket " $0; next }
      { t = 0 }'
  fi
  grep -v -e '^depth=' -e '^verify return:' "$out.err" | tail -n 3 | sed 's/^/err /'
  rm -f "$out.txt" "$out.err"
  if [ -n "$in" ]; then rm -f "$out"; fi
}
ids=
while [ $# -ge ${argsPerProbe} ]; do
  probe "$@" >"$d/$9.res" 2>/dev/null &
  ids="$ids $9"
  shift ${argsPerProbe}
done
wait
for id in $ids; do echo "@ $id"; cat "$d/$id.res"; rm -f "$d/$id.res"; done`;

/** What the prober keeps of a ticket it took: where the session is, and the ticket itself. */
interface HeldSession {
  file: string;
  ticket: Buffer;
}

interface Job {
  file: string;
  args: string[];
  timeoutMs: number;
  resolve(report: ClientReport): void;
  reject(error: unknown): void;
}

function hostHeader(target: ProbeTarget): string {
  const name = target.servername ?? target.host;
  if (target.port !== 443) return formatAddress(name, target.port);
  return name.includes(':') ? `[${name}]` : name;
}

/**
 * Creates the session directory on the node behind `session` and returns a prober that runs
 * its handshakes there. Throws ProbeError('unreachable') when the node lacks openssl or
 * `timeout`, or the directory cannot be made.
 */
export async function openSshProber(session: RemoteSession): Promise<SshProber> {
  const node = session.node;
  const fail = (why: string): ProbeError =>
    new ProbeError('unreachable', node, `cannot probe from ${node} over SSH: ${why}`);
  let dir: string;
  try {
    const res = await session.exec(setupScript, { timeoutMs: setupTimeoutMs });
    dir = res.stdout.trim();
    if (res.code !== 0 || !/^\/[\w./-]+$/.test(dir)) {
      throw fail(res.stderr.trim() || `exit ${res.code ?? res.signal ?? '?'}`);
    }
  } catch (err) {
    throw err instanceof ProbeError ? err : fail(err instanceof Error ? err.message : String(err));
  }

  const held = new WeakMap<TicketSample, HeldSession>();
  const cas = new Map<string, Promise<string>>();
  let serial = 0;
  let queue: Job[] = [];

  /** Sends every handshake asked for in this turn of the event loop as one command. */
  const flush = (): void => {
    const batch = queue;
    queue = [];
    const args = [dir, ...batch.flatMap((j) => j.args)].map(quoteShell).join(' ');
    session
      .exec(`sh -c ${quoteShell(batchScript)} stekctl-probe ${args}`, {
        timeoutMs: Math.max(...batch.map((j) => j.timeoutMs)) + execMarginMs,
      })
      .then(
        (res) => {
          const sections = splitSections(res.stdout);
          for (const j of batch) j.resolve(parseClientReport(sections.get(j.file) ?? ''));
        },
        (err: unknown) => batch.forEach((j) => j.reject(err)),
      );
  };
  const submit = (file: string, args: string[], timeoutMs: number): Promise<ClientReport> =>
    new Promise((resolve, reject) => {
      if (queue.length === 0) setImmediate(flush);
      queue.push({ file, args, timeoutMs, resolve, reject });
    });

  /** The CA file is on this machine; the handshakes need it on the node (it is public). */
  const placeCa = (target: ProbeTarget, version: TlsVersion, path: string): Promise<string> => {
    let placed = cas.get(path);
    if (!placed) {
      placed = (async () => {
        const pem = await readFile(path);
        const name = `ca-${createHash('sha256').update(pem).digest('hex').slice(0, 16)}.pem`;
        const res = await session.exec(`cat > ${quoteShell(`${dir}/${name}`)}`, {
          stdin: pem,
          timeoutMs: setupTimeoutMs,
        });
        if (res.code !== 0) throw new Error(res.stderr.trim() || `exit ${res.code ?? '?'}`);
        return name;
      })();
      cas.set(path, placed);
    }
    return placed.catch((err: unknown) => {
      throw new ProbeError(
        'untrusted-certificate',
        target.node,
        `${target.node} (${version}): cannot place CA file ${path} on ${node}: ${(err as Error).message}`,
      );
    });
  };

  const handshake = async (
    target: ProbeTarget,
    version: TlsVersion,
    offered: HeldSession | undefined,
    options: ProbeCallOptions,
  ): Promise<{ report: ClientReport; file: string }> => {
    const where = `${target.node} (${formatAddress(target.host, target.port)}, ${version}, probed from ${node})`;
    const expired = (): ProbeError =>
      failProbeAt('timeout', target.node, where, 'no TLS handshake before the deadline');
    if (options.signal?.aborted) throw expired();
    const file = `s${++serial}.pem`;
    const ca = target.ca === undefined ? '' : await placeCa(target, version, target.ca);
    const verifyName = target.servername ?? target.host;
    // RFC 6066 forbids IP literals in SNI.
    const sni = target.servername && isIP(target.servername) === 0 ? target.servername : '';
    const args = [
      formatAddress(target.host, target.port),
      version === 'TLSv1.3' ? 'tls1_3' : 'tls1_2',
      String(Math.max(100, target.timeoutMs) / 1000),
      sni,
      hostHeader(target),
      ca,
      isIP(verifyName) === 0 ? '-verify_hostname' : '-verify_ip',
      verifyName,
      file,
      offered?.file ?? '',
    ];
    const report = await abortable(
      submit(file, args, target.timeoutMs),
      options.signal,
      expired,
    ).catch((err: unknown) => {
      if (err instanceof ProbeError) throw err;
      const why = err instanceof Error ? err.message : String(err);
      throw failProbeAt('unreachable', target.node, where, `the probe over SSH failed: ${why}`);
    });
    if (!handshakeDone(report)) throw describeClientFailure(report, target, version, node);
    return { report, file };
  };

  return {
    node,
    dir,
    async takeTicket(target, version, options = {}) {
      const { report, file } = await handshake(target, version, undefined, options);
      const keyId = readKeyId(report.ticket);
      const sample: TicketSample = {
        node: target.node,
        version,
        keyId,
        certFingerprint: report.certFingerprint ?? '',
        session: undefined,
        takenAt: Date.now(),
      };
      if (report.lifetimeHint !== undefined) sample.ticketLifetimeHint = report.lifetimeHint;
      if (report.ticket && keyId === undefined) sample.stateful = true;
      if (report.ticket && keyId !== undefined) held.set(sample, { file, ticket: report.ticket });
      return sample;
    },
    async offerTicket(target, version, sample, options = {}) {
      const offered = held.get(sample);
      if (!offered) {
        throw new ProbeError(
          'no-ticket',
          sample.node,
          `${sample.node} issued no ${version} ticket on ${node} to offer to ${target.node}`,
        );
      }
      if (sample.version !== version) {
        throw new ProbeError(
          'tls-error',
          sample.node,
          `a ${sample.version} ticket from ${sample.node} cannot be offered over ${version}`,
        );
      }
      const { report } = await handshake(target, version, offered, options);
      const reused = report.handshake?.startsWith('Reused') === true;
      // A resumed TLS 1.2 connection keeps the offered ticket unless the server renewed it.
      const fresh =
        report.ticket && !report.ticket.equals(offered.ticket) ? report.ticket : undefined;
      const result: ResumeResult = {
        node: target.node,
        from: sample.node,
        version,
        reused,
        offeredKeyId: sample.keyId,
        keyId: readKeyId(fresh),
        certFingerprint: reused ? undefined : report.certFingerprint,
      };
      return result;
    },
    async close() {
      await session
        .exec(`rm -rf -- ${quoteShell(dir)}`, { timeoutMs: setupTimeoutMs })
        .catch(() => undefined);
    },
  };
}

/** `work`, or `onAbort()`'s error as soon as `signal` aborts; `work` is left to end on its own. */
function abortable<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort: () => Error,
): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort());
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** A prober for a pool no node of which could run the probes: every probe fails with `why`. */
export function createUnreachableProber(why: string): Prober {
  const fail = (target: ProbeTarget): Promise<never> =>
    Promise.reject(failProbeAt('unreachable', target.node, target.node, why));
  return { takeTicket: fail, offerTicket: fail };
}
