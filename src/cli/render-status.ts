import type { Inventory } from '../inventory/types.js';
import type { PoolReport } from '../fleet/inspect-pools.js';
import type { PendingRotation, RingEntry } from '../servers/types.js';
import { holderGone, holderOf } from '../rotation/lock.js';
import { holdsKey } from '../rotation/placement.js';
import type { Terminal } from './terminal.js';

const verdictText: Record<PoolReport['verdict'], string> = {
  consistent: 'consistent: every node holds the same ring',
  inconsistent: 'INCONSISTENT',
  unmanaged: 'not bootstrapped: no managed ring, each node uses its own key (run `stekctl rotate`)',
  incomplete: 'UNKNOWN: not every node could be read',
};

export function renderStatus(reports: PoolReport[], t: Terminal, now = new Date()): string {
  const out: string[] = [];
  for (const r of reports) {
    const color =
      r.verdict === 'consistent' ? t.green : r.verdict === 'unmanaged' ? t.yellow : t.red;
    out.push(`${t.bold(`pool ${r.pool}`)} (${r.server}): ${color(verdictText[r.verdict])}`);
    const pending = describePending(r, now);
    if (pending) out.push(`  ${t.yellow(pending)}`);
    const lock = describeLock(r, now);
    if (lock) out.push(`  ${t.yellow(lock)}`);
    for (const n of r.nodes) {
      if (!n.state) {
        // The reason is told once: in the faults below when they name it, else here.
        const told = r.faults.some((f) => f.node === n.node && f.reason === n.error);
        const why = told || !n.error ? '' : `: ${n.error}`;
        out.push(`  ${n.node.padEnd(20)} ${t.red('unreachable')}${why}`);
        continue;
      }
      const ring = n.state.ring.length === 0 ? t.dim('no managed keys') : renderRing(n.state.ring);
      const inc =
        n.state.included === true
          ? 'included'
          : n.state.included === false
            ? t.red('NOT included')
            : '';
      out.push(`  ${n.node.padEnd(20)} ${ring}${inc ? `  ${t.dim('|')} ${inc}` : ''}`);
    }
    for (const f of r.faults) out.push(`  ${t.red('!')} ${f.node}: ${f.reason}`);
    out.push('');
  }
  return out.join('\n');
}

/**
 * A rotation that started and has not finished, as the nodes record it: a two-step rotation
 * waiting for `--promote`, or a run still under way or stopped half-way.
 */
export function describePending(r: PoolReport, now: Date): string | undefined {
  const recorded = r.nodes
    .map((n) => n.state?.manifest?.pending)
    .filter((p): p is PendingRotation => p !== undefined);
  const first = recorded[0];
  if (!first) return undefined;
  const key = first.keyId.slice(0, 12);
  // The run may still be under way (its overlap) or may have stopped: status cannot tell.
  // The pool is named: a command for the whole inventory would also act on other pools.
  const by = (verb: string, command: string) =>
    `its run ${verb} it if one is under way, else \`${command.replace(/^stekctl \w+/, `$& -p ${r.pool}`)}\` does`;
  const same = recorded.filter((p) => p.keyId === first.keyId).length;
  const partial = same < r.nodes.length;
  const on = partial ? ` on ${same} of ${r.nodes.length} nodes` : '';
  if (first.by === 'rollback') {
    // Where the key encrypts again, whichever nodes still hold the record.
    const back = r.nodes.filter(
      (n) => n.state?.ring.find((e) => e.role === 'encrypt')?.keyId === first.keyId,
    ).length;
    const where = back < r.nodes.length ? ` on ${back} of ${r.nodes.length} nodes` : '';
    return `rollback in progress or stopped part-way: previous key ${key} made primary again${where}; ${by('finishes', 'stekctl rollback')}`;
  }
  // A staged key whose file is gone from a node (deleted by hand, a rebuilt node) cannot be
  // promoted: the next rotation starts over with a new one.
  // Only nodes that record the stage count: the others are a record on some nodes, told below.
  const lacking = r.nodes.filter(
    (n) => n.state?.manifest?.pending?.keyId === first.keyId && !holdsKey(n.state, first.keyId),
  );
  if (first.phase === 'staged' && lacking.length > 0)
    return `rotation stopped part-way: key ${key} staged, but ${lacking.map((n) => n.node).join(', ')} no longer ${lacking.length === 1 ? 'holds' : 'hold'} it, which \`rotate --promote\` cannot finish; \`stekctl rotate -p ${r.pool}\` rotates to a new key, bringing every node to one ring`;
  if (first.phase === 'promoted')
    return `rotation in progress: key ${key} promoted${on}, not yet retired; ${by('finishes', 'stekctl rotate')}`;
  // Only a stage recorded on every node can be promoted (findResumableStage); one on some nodes
  // is a run that stopped part-way (or is still writing), which a whole rotation repairs.
  if (partial)
    return `rotation in progress or stopped part-way: key ${key} staged${on}, which \`rotate --promote\` cannot finish; ${by('finishes', 'stekctl rotate')}, bringing every node to one ring`;
  if (first.promoteAfter === undefined)
    return `rotation in progress: key ${key} staged${on}, not yet promoted; ${by('promotes', 'stekctl rotate --promote')}`;
  const due = Date.parse(first.promoteAfter);
  const when =
    due > now.getTime()
      ? `from ${first.promoteAfter} (in ${formatAge(Math.ceil((due - now.getTime()) / 1000))})`
      : 'now';
  return `rotation in progress: key ${key} staged${on}, may be promoted ${when}; ${by('promotes', 'stekctl rotate --promote')}`;
}

function renderRing(ring: RingEntry[]): string {
  return ring
    .map((e) => {
      const age = e.ageSeconds === undefined ? '' : `, ${formatAge(e.ageSeconds)} old`;
      return `${(e.keyId ?? '????????').slice(0, 12)} (${e.role}${age}${e.mode ? `, mode ${e.mode}` : ''})`;
    })
    .join('  ');
}

export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

/** The `--json` document: everything the terminal shows, with full key ids and no key bytes. */
export function statusDocument(inventory: Inventory, reports: PoolReport[], ok: boolean): unknown {
  return {
    command: 'status',
    inventory: { path: inventory.path, sha256: inventory.sha256 },
    ok,
    pools: reports.map((r) => ({
      pool: r.pool,
      server: r.server,
      verdict: r.verdict,
      consistent: r.verdict === 'consistent',
      ring: r.ring,
      faults: r.faults,
      nodes: r.nodes.map((n) => ({
        node: n.node,
        host: n.host,
        reachable: n.reachable,
        error: n.error,
        included: n.state?.included,
        keyDir: n.state?.keyDir,
        managedFile: n.state?.managedFile,
        ring: n.state?.ring,
        files: n.state?.files.map((f) => ({
          file: f.file,
          size: f.size,
          mode: f.mode,
          keyId: f.keyId,
        })),
        problems: n.state?.problems,
        // HAProxy with runtimeApi: the key ids the running process holds, in file order.
        ...(n.state?.runtimeKeys ? { runtimeKeys: n.state.runtimeKeys } : {}),
        lastRotation: n.state?.manifest?.lastRotation,
        pending: n.state?.manifest?.pending,
        // The pool lock in this node's key directory: the run holding it, or one that died.
        ...(n.state?.lock ? { lock: n.state.lock } : {}),
      })),
    })),
  };
}

/**
 * The pool lock, as the nodes hold it: a run under way, or one that died (a later run breaks the
 * lock of a dead process on its own machine at once, and anyone's once it has expired).
 */
export function describeLock(r: PoolReport, now: Date): string | undefined {
  const held = r.nodes.filter((n) => n.state?.lock);
  const lock = held[0]?.state?.lock;
  if (!lock) return undefined;
  const who = `${lock.user || '?'}@${lock.host || '?'}${lock.pid === undefined ? '' : ` (pid ${lock.pid})`}`;
  const on = held.length < r.nodes.length ? ` on ${held.length} of ${r.nodes.length} nodes` : '';
  const expires = Date.parse(lock.expires);
  const dead = !Number.isNaN(expires) && expires > now.getTime() && holderGone(holderOf(lock));
  const until = Number.isNaN(expires)
    ? 'an unreadable lock: `rotate --break-lock` removes it once you know no run holds it'
    : expires <= now.getTime()
      ? `expired at ${lock.expires}: the next run breaks it`
      : dead
        ? `until ${lock.expires}, but held by process ${lock.pid} on this machine, which is no longer running: the next run from here breaks it`
        : `until ${lock.expires}: a run under way, or one that died (a run on ${lock.host || 'that machine'} breaks it at once when that process is gone, any run once it has expired)`;
  return `locked by ${who} since ${lock.started || '?'}${on}, ${until}`;
}
