import type { TlsVersion } from '../inventory/types.js';
import { failProbeAt, type ProbeError } from './probe-error.js';
import { formatAddress, type ProbeTarget } from './probe-target.js';

/**
 * Reads what the probe script of ssh-probe.ts prints on the probing node: per handshake a
 * section `@ <id>` followed by tagged lines (rc, handshake, cert, hint, ticket, err). Pure.
 */

/** What one s_client run reported. */
export interface ClientReport {
  /** The exit status of `timeout openssl s_client`; undefined when the run printed nothing. */
  exitCode: number | undefined;
  /** s_client's `New, TLSv1.3, Cipher is ...` line; undefined when it printed none. */
  handshake: string | undefined;
  /** sha256 of the server's certificate, 'AA:BB:...' (as node:tls' fingerprint256). */
  certFingerprint: string | undefined;
  lifetimeHint: number | undefined;
  /** The ticket of the session s_client wrote, if any. */
  ticket: Buffer | undefined;
  errors: string[];
}

/** Bytes of one `BIO_dump` line: `0010 - 87 0b ... 1f-4d ...   ascii`; the hex area is 48 wide. */
function readDumpLine(line: string): number[] {
  const m = /^\s*[0-9a-f]+ - (.*)$/.exec(line);
  return (m?.[1]?.slice(0, 48).match(/[0-9a-f]{2}/g) ?? []).map((h) => parseInt(h, 16));
}

/** Parses the tagged lines of one handshake. */
export function parseClientReport(text: string): ClientReport {
  const report: ClientReport = {
    exitCode: undefined,
    handshake: undefined,
    certFingerprint: undefined,
    lifetimeHint: undefined,
    ticket: undefined,
    errors: [],
  };
  const ticket: number[] = [];
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    const tag = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? '' : line.slice(space + 1);
    if (tag === 'rc' && /^\d+$/.test(rest)) report.exitCode = Number(rest);
    else if (tag === 'handshake') report.handshake ??= rest.trim();
    else if (tag === 'cert' && /^[0-9a-f]{64}$/.test(rest))
      report.certFingerprint = (rest.toUpperCase().match(/../g) ?? []).join(':');
    else if (tag === 'hint' && /^\d+$/.test(rest)) report.lifetimeHint = Number(rest);
    else if (tag === 'ticket') ticket.push(...readDumpLine(rest));
    else if (tag === 'err' && rest.trim() !== '') report.errors.push(rest.trim());
  }
  if (ticket.length > 0) report.ticket = Buffer.from(ticket);
  return report;
}

/** Splits a batch's output into the sections of its handshakes, by id. */
export function splitSections(text: string): Map<string, string> {
  const sections = new Map<string, string>();
  let id: string | undefined;
  let lines: string[] = [];
  const close = (): void => {
    if (id !== undefined) sections.set(id, lines.join('\n'));
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('@ ')) {
      close();
      id = line.slice(2).trim();
      lines = [];
    } else lines.push(line);
  }
  close();
  return sections;
}

/**
 * Whether the handshake completed. s_client prints `(NONE)` for a handshake that failed early,
 * but a cipher once the ServerHello is in, also when the handshake fails later (a rejected
 * certificate in TLS 1.3): errors raised by OpenSSL's handshake state machine tell those apart.
 */
export function handshakeDone(r: ClientReport): boolean {
  if (r.handshake === undefined || r.handshake.includes('(NONE)')) return false;
  return !r.errors.some((l) => /ssl\/statem\/|verify failed/.test(l));
}

/** OpenSSL's `...:error:0A000410:SSL routines:func:reason:file:line:...` to its reason. */
function readReason(line: string): string {
  const parts = line.split(':');
  return parts[1] === 'error' && parts[5] ? parts[5] : line;
}

/** The ProbeError for an s_client run that did not complete a handshake. */
export function describeClientFailure(
  r: ClientReport,
  target: ProbeTarget,
  version: TlsVersion,
  prober: string,
): ProbeError {
  const where = `${target.node} (${formatAddress(target.host, target.port)}, ${version}, probed from ${prober})`;
  const text = r.errors.join('\n');
  if (r.exitCode === undefined) {
    return failProbeAt('tls-error', target.node, where, `the probe reported nothing`);
  }
  // `timeout` exits 124, or 137 when its KILL follow-up was needed.
  if (r.exitCode === 124 || r.exitCode === 137) {
    return failProbeAt(
      'timeout',
      target.node,
      where,
      `no TLS handshake within ${target.timeoutMs} ms`,
    );
  }
  if (/connect:errno=|Connection refused|No route to host|Name or service not known/i.test(text)) {
    // strerror's words ("Connection refused"), cased as the direct probes' own.
    const why = /BIO_connect:([^:]+)/.exec(text)?.[1]?.toLowerCase() ?? 'connection failed';
    return failProbeAt('unreachable', target.node, where, `cannot connect: ${why}`);
  }
  if (/verify error|certificate verify failed/i.test(text)) {
    const line = r.errors.find((l) => /verify error/i.test(l)) ?? text;
    return failProbeAt(
      'untrusted-certificate',
      target.node,
      where,
      `certificate rejected: ${readReason(line)}`,
      `check probe.ca and that the certificate covers ${target.servername ?? target.host}`,
    );
  }
  if (r.exitCode === 127) {
    return failProbeAt('tls-error', target.node, where, `${text || 'a command is missing'}`);
  }
  const reasons = r.errors.filter((l) => l.includes(':error:')).map(readReason);
  const alert = /SSL alert number (\d+)/.exec(text)?.[1];
  const detail =
    reasons.length > 0 ? `${reasons.join('; ')}${alert ? ` (alert ${alert})` : ''}` : text;
  const hint = /protocol version|unsupported protocol|no protocols available/i.test(text)
    ? `the server does not accept ${version}; enable it there (nginx: ssl_protocols) or drop it from probe.versions`
    : undefined;
  return failProbeAt(
    'tls-error',
    target.node,
    where,
    `TLS handshake failed: ${detail || 'connection closed during the handshake'}`,
    hint,
  );
}
