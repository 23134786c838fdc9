import type { Inventory } from '../inventory/types.js';
import type { PoolVerification } from '../fleet/verify-pools.js';
import type { Terminal } from './terminal.js';

export function renderVerification(results: PoolVerification[], t: Terminal): string {
  const out: string[] = [];
  for (const r of results) {
    const p = r.probe;
    const s = p.summary;
    const verdict = r.ok ? t.green('ok') : t.red('FAILED');
    const keys = p.encryptingKeyIds.map((k) => k.slice(0, 12)).join(', ') || 'none';
    out.push(
      `${t.bold(`pool ${r.pool}`)} (${r.server}): ${verdict}  ${s.resumed}/${s.probes} resumed ` +
        `(${p.plan === 'matrix' ? 'every node x every node' : 'each node at itself and one other'}, ` +
        `${p.versions.map((v) => v.version).join(' + ')}), encrypting key ${keys}, ${p.durationMs} ms`,
    );
    if (r.via === 'ssh') {
      out.push(
        r.probedFrom
          ? `  probed with openssl on ${r.probedFrom} over SSH (probe.via: ssh)`
          : `  ${t.red('!')} probe.via is ssh, but no node could run the probes: ${r.proberError ?? 'unknown'}`,
      );
    }
    for (const v of p.versions) {
      for (const n of v.nodes) {
        const what = n.issued
          ? `ticket under ${n.keyId?.slice(0, 12) ?? '?'}`
          : t.red(n.error?.detail ?? n.error?.message ?? 'no ticket');
        const cert = n.certFingerprint ? t.dim(`  cert ${n.certFingerprint.slice(0, 23)}`) : '';
        out.push(`  ${v.version}  ${n.node.padEnd(20)} ${what}${cert}`);
      }
    }
    // A pool never rotated: each node keeps a random key of its own, so every ticket fails on
    // every peer. One line says why, instead of one per node and peer.
    const unmanaged = r.ring?.verdict === 'unmanaged';
    if (unmanaged && !r.ok) {
      out.push(
        `  ${t.red('!')} not bootstrapped: no node has a managed key, so each encrypts with a random key of its own and resumes no peer's tickets; \`stekctl rotate\` gives the pool one key`,
      );
    }
    for (const n of p.nodes.filter((x) => !x.ok)) {
      if (unmanaged && n.codes.every((c) => c === 'mixed-keys')) continue;
      for (const reason of mergeVersions(n.reasons))
        out.push(`  ${t.red('!')} ${n.node}: ${reason}`);
    }
    for (const d of p.diagnostics.filter((x) => x.severity === 'warning')) {
      out.push(`  ${t.yellow('warning:')} ${d.message}`);
    }
    if (p.encryptingKeyIds.length > 1 && p.nodes.every((n) => n.ok)) {
      out.push(`  ${t.red('!')} nodes encrypt under ${p.encryptingKeyIds.length} different keys`);
    }
    for (const f of r.ring?.faults ?? []) out.push(`  ${t.yellow('ring:')} ${f.node}: ${f.reason}`);
    if (r.ringError) out.push(`  ${t.yellow('ring:')} not read: ${r.ringError}`);
    out.push('');
  }
  return out.join('\n');
}

export function verifyDocument(
  inventory: Inventory,
  results: PoolVerification[],
  ok: boolean,
): unknown {
  return {
    command: 'verify',
    inventory: { path: inventory.path, sha256: inventory.sha256 },
    ok,
    pools: results.map((r) => ({
      pool: r.pool,
      server: r.server,
      ok: r.ok,
      via: r.via,
      probedFrom: r.probedFrom,
      proberError: r.proberError,
      ring: r.ring
        ? { verdict: r.ring.verdict, keyIds: r.ring.ring, faults: r.ring.faults }
        : undefined,
      ringError: r.ringError,
      probe: r.probe,
    })),
  };
}

/**
 * "TLSv1.2: X" and "TLSv1.3: X" as one "TLSv1.2, TLSv1.3: X": a node that is down fails the
 * same way over every version.
 */
export function mergeVersions(reasons: string[]): string[] {
  const byText = new Map<string, string[]>();
  for (const reason of reasons) {
    const m = /^(TLSv1\.[23]): (.*)$/s.exec(reason);
    const [version, text] = m ? [m[1] as string, m[2] as string] : ['', reason];
    const versions = byText.get(text) ?? [];
    if (version) versions.push(version);
    byText.set(text, versions);
  }
  return [...byText].map(([text, versions]) =>
    versions.length > 0 ? `${versions.join(', ')}: ${text}` : text,
  );
}
