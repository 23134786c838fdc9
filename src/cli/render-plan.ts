import type { RotationPlan } from '../rotation/types.js';
import { ringIds } from '../rotation/placement.js';
import { adapterFor } from '../servers/index.js';
import { formatAge } from './render-status.js';
import type { Terminal } from './terminal.js';

const s12 = (id: string) => id.slice(0, 12);
const ring = (ids: string[]) => (ids.length === 0 ? 'no keys' : ids.map(s12).join(' '));

/** The plan as an operator reads it before saying yes: per node, files, commands and rings. */
export function renderPlan(plan: RotationPlan, t: Terminal, opts: { dryRun: boolean }): string {
  const { pool } = plan;
  const adapter = adapterFor(pool.server);
  const out: string[] = [];
  const what = {
    bootstrap: 'bootstrap',
    rotate: 'rotation',
    resume: 'resume a staged rotation',
    rollback: 'rollback',
  }[plan.kind];
  const keyNote = plan.generateKey
    ? opts.dryRun
      ? ' (a fresh key is generated at run time; this id is an example)'
      : ' (new)'
    : ' (already on every node)';
  out.push(
    `${t.bold(`pool ${pool.name}`)} (${pool.server}, ${pool.nodes.length} nodes): ${what}, key ${s12(plan.keyId)}${keyNote}`,
  );
  for (const [node, ids] of plan.before)
    out.push(`  ${t.dim('ring now')}   ${node.name.padEnd(18)} [${ring(ids)}]`);
  if (plan.phases.length === 0) out.push('  nothing to do');
  let n = 1;
  for (const phase of plan.phases) {
    if (phase.waitBeforeMs > 0)
      out.push(
        `  ${n++}. wait ${formatAge(Math.round(phase.waitBeforeMs / 1000))} (overlap) so that clients and nodes catch up`,
      );
    out.push(`  ${n++}. ${phase.name}: ${phase.description}`);
    for (const s of phase.steps) {
      const acts: string[] = [];
      if (s.writeKey) acts.push(`write ${s.node.keyDir}/${plan.keyId}.key (0600, atomically)`);
      if (s.adopt) acts.push(`copy the keys of ${adapter.managedFileName} into key files`);
      if (s.writeManaged)
        acts.push(`write ${s.node.keyDir}/${adapter.managedFileName}: [${ring(ringIds(s.ring))}]`);
      if (s.writeManaged || s.reload) acts.push(`run \`${s.node.check}\``);
      if (s.reload && s.node.runtimeApi)
        acts.push(
          `set the keys in memory through ${s.node.runtimeApi} (\`${s.node.reload}\` where that is not safe)`,
        );
      else if (s.reload) acts.push(`run \`${s.node.reload}\` and wait for the new config to serve`);
      if (s.deleteFiles.length > 0)
        acts.push(
          `delete ${s.deleteFiles.map((f) => f.replace(/\.key$/, '').slice(0, 12) + '.key').join(', ')}`,
        );
      if (acts.length === 0)
        acts.push(
          `record the ${plan.kind === 'rollback' ? 'rollback' : 'rotation'} in stekctl.json`,
        );
      out.push(`     ${s.node.name.padEnd(18)} ${acts.join('; ')}`);
    }
    if (phase.expectKeyId && phase.steps.some((s) => s.reload)) {
      out.push(
        `     then every node must issue tickets under ${s12(phase.expectKeyId)} (checked with handshakes)`,
      );
    }
    if (phase.verifyAfter) {
      const versions = pool.nodes[0]?.probe.versions.join(' + ') ?? '';
      out.push(
        `  ${n++}. verify: every node resumes every peer's tickets (${versions})${phase.ticketsBefore ? (adapter.decryptOnly ? ', and tickets taken before it still resume' : ', and how many tickets taken before the switch fall back to a full handshake') : ''}`,
      );
    }
  }
  out.push(`  ${t.dim('ring after')} [${ring(plan.after)}]`);
  for (const note of plan.notes) out.push(`  ${t.dim('note:')} ${note}`);
  for (const w of plan.warnings) out.push(`  ${t.yellow('warning:')} ${w}`);
  return out.join('\n') + '\n';
}
