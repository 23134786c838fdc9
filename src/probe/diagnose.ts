import { groupBy } from '../collections.js';
import type { TlsVersion } from '../inventory/types.js';
import type {
  Diagnostic,
  DiagnosticCode,
  NodeStatus,
  NodeTicketReport,
  OfferReport,
  VersionReport,
} from './report-types.js';

export interface DiagnoseInput {
  nodes: string[];
  versions: VersionReport[];
  offers: OfferReport[];
  ringKeyIds?: string[] | undefined;
  expectedKeyId?: string | undefined;
}

export interface DiagnoseResult {
  /** The offers, with `diagnoses` filled in for those not resumed. */
  offers: OfferReport[];
  nodes: NodeStatus[];
  diagnostics: Diagnostic[];
}

class Findings {
  private readonly byNode = new Map<string, { reasons: Set<string>; codes: Set<DiagnosticCode> }>();
  readonly diagnostics: Diagnostic[] = [];

  constructor(nodes: string[]) {
    for (const node of nodes) this.byNode.set(node, { reasons: new Set(), codes: new Set() });
  }

  blame(node: string, code: DiagnosticCode, reason: string): void {
    const entry = this.byNode.get(node);
    entry?.reasons.add(reason);
    entry?.codes.add(code);
  }

  has(node: string, reason: string): boolean {
    return this.byNode.get(node)?.reasons.has(reason) === true;
  }

  /** Nodes already found at fault. */
  faulty(): Set<string> {
    return new Set([...this.byNode].filter(([, e]) => e.codes.size > 0).map(([node]) => node));
  }

  report(d: Diagnostic): void {
    this.diagnostics.push(d);
  }

  statuses(): NodeStatus[] {
    return [...this.byNode].map(([node, { reasons, codes }]) => ({
      node,
      ok: codes.size === 0,
      reasons: [...reasons],
      codes: [...codes],
    }));
  }
}

function describeGroups(groups: Map<string, NodeTicketReport[]>, what: string): string {
  return [...groups]
    .map(([k, ts]) => `${what} ${k} on ${ts.map((t) => t.node).join(', ')}`)
    .join('; ');
}

/** What each node's own full handshake says about it. */
function diagnoseTakes(v: VersionReport, input: DiagnoseInput, findings: Findings): void {
  const { ringKeyIds: ring, expectedKeyId: expected } = input;
  const version = v.version;
  for (const t of v.nodes) {
    let code: DiagnosticCode | undefined;
    let message = '';
    let reason: string | undefined;
    if (t.error) {
      code = t.error.code;
      message = t.error.message;
      reason = t.error.detail;
    } else if (!t.issued) {
      code = 'no-tickets';
      message = t.stateful
        ? `${t.node} issues ${version} session-cache references instead of tickets: tickets are off, so its sessions resume on no other node`
        : `${t.node} completes ${version} handshakes but issues no tickets: tickets are off`;
    } else if (t.keyId !== undefined && ring && !ring.includes(t.keyId)) {
      code = 'unknown-key';
      message = `${t.node} encrypts ${version} tickets with key ${t.keyId}, which is not in the pool's ring: it does not use the managed keys`;
    } else if (t.keyId !== undefined && expected !== undefined && t.keyId !== expected) {
      code = ring ? 'old-key' : 'unexpected-key';
      message = ring
        ? `${t.node} still encrypts ${version} tickets with key ${t.keyId}, not ${expected}: the reload that brings the new key has not taken effect`
        : `${t.node} encrypts ${version} tickets with key ${t.keyId}, not the expected ${expected}`;
    }
    if (code === undefined) continue;
    // A reason goes beside its node's name: the message's own "node (address, version)" would
    // say it twice.
    findings.blame(t.node, code, `${version}: ${reason ?? message}`);
    findings.report({ code, severity: 'error', message, nodes: [t.node], version });
  }
}

/** The most telling reasons why `o` was not resumed, and the sentence for the first. */
function explainRefusal(
  o: OfferReport,
  from: NodeTicketReport | undefined,
  to: NodeTicketReport | undefined,
  ring: string[] | undefined,
): { codes: DiagnosticCode[]; text: string } {
  const codes: DiagnosticCode[] = [];
  const texts: string[] = [];
  const offered = o.offeredKeyId;
  if (from?.certFingerprint && to?.certFingerprint && from.certFingerprint !== to.certFingerprint) {
    codes.push('different-certificates');
    texts.push(
      `${o.to} serves a different certificate, and a session made under one certificate never resumes under another, whatever the keys`,
    );
  }
  if (offered !== undefined && ring && !ring.includes(offered)) {
    codes.push('unknown-key');
    texts.push(`the tickets are under key ${offered}, which is not in the pool's ring`);
  }
  if (to && !to.error && !to.issued) {
    codes.push('no-tickets');
    texts.push(`${o.to} issues no tickets, and accepts none`);
  }
  const toKey = to?.keyId ?? o.issuedKeyId;
  if (offered !== undefined && toKey !== undefined && offered !== toKey) {
    codes.push('mixed-keys');
    texts.push(
      `the tickets are under key ${offered} but ${o.to} encrypts with ${toKey} and does not accept ${offered}`,
    );
  }
  if (codes.length === 0) {
    codes.push('not-resumed');
    texts.push(
      o.from === o.to
        ? `it refuses a ticket it issued itself (key ${offered ?? 'unknown'}): check the ticket lifetime and that the keys did not change during the probe`
        : `the tickets are under key ${offered ?? 'unknown'}, which ${o.to} encrypts with too: check that the session-id context matches (nginx: same certificates; Apache: same ServerName:port)`,
    );
  }
  return { codes, text: texts[0] as string };
}

function listFroms(to: string, froms: string[]): string {
  return froms.map((f) => (f === to ? `${f} (itself)` : f)).join(', ');
}

/**
 * Turns tickets and offers into per-node verdicts and pool findings. Pure: the same input
 * always gives the same output.
 */
export function diagnose(input: DiagnoseInput): DiagnoseResult {
  const findings = new Findings(input.nodes);
  const takes = new Map<TlsVersion, Map<string, NodeTicketReport>>();
  for (const v of input.versions) {
    takes.set(v.version, new Map(v.nodes.map((t) => [t.node, t])));
    diagnoseTakes(v, input, findings);
  }

  // A refusal involves two nodes. When the tickets already show one of them at fault (wrong key,
  // no tickets, unreachable), that one is blamed alone; otherwise both are.
  const faulty = findings.faulty();
  const culpritOnly = (node: string, other: string): boolean =>
    faulty.has(other) && !faulty.has(node);
  const refusedAt = new Map<
    string,
    { to: string; version: TlsVersion; code: DiagnosticCode; text: string; froms: string[] }
  >();
  const refusedFrom = new Map<
    string,
    { from: string; version: TlsVersion; code: DiagnosticCode; tos: string[] }
  >();
  const offers = input.offers.map((o): OfferReport => {
    if (o.reused) return o;
    if (o.error) {
      // A skipped offer's cause is already reported against the node that failed.
      if (o.skipped) return o;
      const reason = `${o.version}: ${o.error.detail ?? o.error.message}`;
      if (!findings.has(o.to, reason)) {
        findings.blame(o.to, o.error.code, reason);
        findings.report({
          code: o.error.code,
          severity: 'error',
          message: o.error.message,
          nodes: [o.to],
          version: o.version,
        });
      }
      return { ...o, diagnoses: [o.error.code] };
    }
    const byNode = takes.get(o.version);
    const { codes, text } = explainRefusal(
      o,
      byNode?.get(o.from),
      byNode?.get(o.to),
      input.ringKeyIds,
    );
    const code = codes[0] as DiagnosticCode;
    const atKey = `${o.to}\u0000${o.version}\u0000${text}`;
    const at = refusedAt.get(atKey) ?? { to: o.to, version: o.version, code, text, froms: [] };
    at.froms.push(o.from);
    refusedAt.set(atKey, at);
    if (o.from !== o.to) {
      const fromKey = `${o.from}\u0000${o.version}\u0000${code}`;
      const f = refusedFrom.get(fromKey) ?? { from: o.from, version: o.version, code, tos: [] };
      f.tos.push(o.to);
      refusedFrom.set(fromKey, f);
    }
    return { ...o, diagnoses: codes };
  });

  for (const r of refusedAt.values()) {
    const sentence = `did not resume the tickets of ${listFroms(r.to, r.froms)}: ${r.text}`;
    if (!r.froms.every((f) => culpritOnly(r.to, f))) {
      findings.blame(r.to, r.code, `${r.version}: ${sentence}`);
    }
    findings.report({
      code: r.code,
      severity: 'error',
      message: `${r.to} ${sentence}`,
      nodes: [...new Set([r.to, ...r.froms])],
      version: r.version,
    });
  }
  for (const r of refusedFrom.values()) {
    const tos = r.tos.filter((t) => !culpritOnly(r.from, t));
    if (tos.length === 0) continue;
    findings.blame(
      r.from,
      r.code,
      `${r.version}: its tickets did not resume on ${tos.sort().join(', ')} (${r.code})`,
    );
  }

  // Pool-wide observations: errors when they explain a refusal, warnings otherwise (during a
  // staged rotation nodes may briefly encrypt with different keys and still resume each other).
  for (const v of input.versions) {
    const failedWith = (code: DiagnosticCode): boolean =>
      offers.some((o) => o.version === v.version && o.diagnoses?.includes(code) === true);
    const issued = v.nodes.filter((t) => !t.error);
    const keys = groupBy(issued, (t) => t.keyId);
    if (keys.size > 1) {
      findings.report({
        code: 'mixed-keys',
        severity: failedWith('mixed-keys') ? 'error' : 'warning',
        message: `nodes encrypt ${v.version} tickets with different keys: ${describeGroups(keys, 'key')}`,
        nodes: issued.filter((t) => t.keyId !== undefined).map((t) => t.node),
        version: v.version,
      });
    }
    const certs = groupBy(issued, (t) => t.certFingerprint || undefined);
    if (certs.size > 1) {
      findings.report({
        code: 'different-certificates',
        severity: failedWith('different-certificates') ? 'error' : 'warning',
        message: `nodes serve different certificates over ${v.version}: ${describeGroups(certs, 'sha256')}`,
        nodes: issued.map((t) => t.node),
        version: v.version,
      });
    }
  }

  return { offers, nodes: findings.statuses(), diagnostics: findings.diagnostics };
}
