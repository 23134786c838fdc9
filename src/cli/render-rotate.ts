import type { RotateReport } from '../rotation/rotate.js';
import { adapterFor } from '../servers/index.js';
import type { RotationEvent } from '../rotation/types.js';
import { formatAge } from './render-status.js';
import type { Terminal } from './terminal.js';

/**
 * Progress for people: a line per phase and per failing node, and a countdown during the overlap
 * (redrawn in place on a terminal, a line a minute otherwise).
 */
export function createProgress(
  stream: NodeJS.WriteStream,
  t: Terminal,
  quiet: boolean,
): (e: RotationEvent) => void {
  let lastPlainTick = 0;
  let countdownShown = false;
  const write = (s: string) => {
    if (countdownShown && t.isTTY) {
      stream.write('\r\u001b[2K');
      countdownShown = false;
    }
    stream.write(s);
  };
  return (e) => {
    if (quiet) return;
    switch (e.type) {
      case 'phase-start':
        if (e.phase !== 'preflight')
          write(`${t.dim(`[${e.pool}]`)} ${e.phase} on ${e.nodes} node(s)...\n`);
        break;
      case 'node-done':
        if (!e.ok)
          write(
            `${t.dim(`[${e.pool}]`)}   ${t.red('x')} ${e.node}: ${hang(e.message ?? 'failed', `${t.dim(`[${e.pool}]`)}       `)}\n`,
          );
        break;
      case 'phase-end':
        // A failed preflight is told once, in the summary (a locked pool in one line).
        if (e.phase === 'preflight' && !e.ok) break;
        write(
          `${t.dim(`[${e.pool}]`)} ${e.phase} ${e.ok ? t.green('ok') : t.red('FAILED')} (${(e.ms / 1000).toFixed(1)}s)\n`,
        );
        break;
      case 'wait': {
        const left = formatAge(Math.ceil(e.remainingMs / 1000));
        if (t.isTTY) {
          stream.write(
            `\r\u001b[2K${t.dim(`[${e.pool}]`)} overlap: ${left} left before promotion (Ctrl-C rolls back)`,
          );
          countdownShown = e.remainingMs > 0;
          if (e.remainingMs === 0) stream.write('\n');
        } else if (Date.now() - lastPlainTick >= 60_000 || e.remainingMs === e.totalMs) {
          lastPlainTick = Date.now();
          write(`[${e.pool}] overlap: ${left} left before promotion\n`);
        }
        break;
      }
      case 'note':
        write(
          `${t.dim(`[${e.pool}]`)} ${e.level === 'warn' ? t.yellow('warning: ') : ''}${hang(e.message, `${t.dim(`[${e.pool}]`)}     `)}\n`,
        );
        break;
      case 'plan':
        break;
    }
  };
}

/** HAProxy with runtimeApi: which node steps set keys through the stats socket, which reloaded. */
function runtimeApiLines(r: RotateReport['results'][number]): string[] {
  const steps = r.phases.flatMap((p) =>
    p.nodes.flatMap((n) =>
      n.runtimeApi ? [{ phase: p.name, node: n.node, ...n.runtimeApi }] : [],
    ),
  );
  if (steps.length === 0) return [];
  const api = steps.filter((s) => s.via === 'runtime-api').length;
  return [
    `  runtime API: ${api} of ${steps.length} node step(s) set the keys in memory through the stats socket (no reload)`,
    ...steps.flatMap((s) =>
      s.via === 'reload'
        ? [`  runtime API: ${s.node} (${s.phase}) reloaded instead: ${s.reason}`]
        : [],
    ),
  ];
}

export function renderSummary(report: RotateReport, t: Terminal): string {
  const warnings = report.warnings.map((w) => `${t.yellow('warning:')} ${w}\n`).join('');
  return renderOutcome(report, t) + warnings;
}

function renderOutcome(report: RotateReport, t: Terminal): string {
  const out: string[] = [];
  if (report.stopped === 'locked') {
    const locked = report.preflight.filter((p) => p.locked.length > 0);
    const what = locked.map(
      (p) =>
        `pool ${p.pool} is locked by ${p.locked[0]?.holder} (on ${p.locked.map((l) => l.node).join(', ')})`,
    );
    return `${what.join('; ')}; nothing was touched: run again once that run has ended, or with --break-lock if it is gone\n`;
  }
  if (report.stopped === 'preflight') {
    out.push(t.red('preflight failed; nothing was written anywhere:'));
    for (const p of report.preflight)
      for (const f of p.failures) out.push(`  pool ${p.pool}, ${f.node}: ${f.reason}`);
    return indentContinuations(out).join('\n') + '\n';
  }
  if (report.stopped === 'declined') return 'not confirmed; nothing was changed\n';
  if (report.stopped === 'refused') {
    for (const r of report.refused)
      out.push(`${r.reason}; nothing was changed${r.hint ? `\n  ${t.dim(r.hint)}` : ''}`);
    const spared = sparedByRefusal(report);
    if (spared) out.push(spared);
    return out.join('\n') + '\n';
  }
  for (const r of report.results) {
    const head = `${t.bold(`pool ${r.pool}`)} (${r.server})`;
    const verdict: Record<typeof r.outcome, string> = {
      rotated:
        r.kind === 'rollback'
          ? t.green(
              `rolled back: every node encrypts with ${r.keyId.slice(0, 12)} again; ring [${r.after.map((k) => k.slice(0, 12)).join(' ')}]`,
            )
          : t.green(
              `rotated: every node encrypts with ${r.keyId.slice(0, 12)}; ring [${r.after.map((k) => k.slice(0, 12)).join(' ')}]`,
            ),
      staged: t.green(
        adapterFor(r.server).decryptOnly
          ? `staged ${r.keyId.slice(0, 12)} for decryption on every node; promote with \`stekctl rotate --promote\``
          : `staged ${r.keyId.slice(0, 12)}: its file is on every node, unused until the switch; switch with \`stekctl rotate --promote\``,
      ),
      'nothing-to-do': 'nothing to do',
      'rolled-back': t.red(
        r.phases.length === 0
          ? 'FAILED before any change: nothing was written'
          : 'FAILED and rolled back: every node holds its ring from before the run',
      ),
      'not-restored': t.red('FAILED and NOT fully restored'),
    };
    out.push(`${head}: ${verdict[r.outcome]}`);
    if (r.error) out.push(`  cause: ${r.error}`);
    const v = r.verification;
    if (r.via === 'ssh') out.push(`  probes: openssl on ${r.probedFrom ?? '?'} over SSH`);
    if (v)
      out.push(
        `  verify: ${v.summary.resumed}/${v.summary.probes} resumptions across the pool, ${v.ok ? 'ok' : 'FAILED'}`,
      );
    const rv = r.rollbackVerification;
    if (rv)
      out.push(
        `  verify after the rollback: ${rv.summary.resumed}/${rv.summary.probes} resumptions across the pool, ${rv.ok ? 'ok' : 'FAILED'}`,
      );
    for (const c of r.ticketChecks)
      out.push(`  ${c.name}: ${c.ok ? 'ok' : `FAILED: ${c.problems.join('; ')}`}`);
    out.push(...runtimeApiLines(r));
    const sw = r.phases.find((p) => p.name === 'switch');
    if (sw?.windowMs !== undefined && r.kind !== 'bootstrap') {
      out.push(`  switch window (first to last node reloading): ${sw.windowMs} ms`);
    }
    if (r.switchLoss) {
      out.push(
        `  tickets from before the switch: ${r.switchLoss.lost} of ${r.switchLoss.offered} fell back to a full handshake (${r.server} has no decrypt-only slot)`,
      );
    }
    for (const n of r.notes) out.push(`  ${t.dim('note:')} ${n}`);
    for (const n of r.needsPerson) out.push(`  ${t.red('needs a person:')} ${n.node}: ${n.reason}`);
    for (const w of r.warnings) out.push(`  ${t.yellow('warning:')} ${w}`);
  }
  return indentContinuations(out).join('\n') + '\n';
}

/** Every line of `text` after the first starts with `pad`: a server's output stays under its line. */
function hang(text: string, pad: string): string {
  return text.replace(/\n$/, '').replaceAll('\n', `\n${pad}`);
}

/** Each entry's later lines indented two past its first line's own indentation. */
function indentContinuations(lines: string[]): string[] {
  return lines.map((l) => hang(l, ' '.repeat(l.length - l.trimStart().length + 2)));
}

/**
 * A refused pool stops the whole run, so the pools that had work to do were left alone too: said
 * outright, or a run of `--promote` over every pool reads as if the staged ones were promoted.
 */
function sparedByRefusal(report: RotateReport): string | undefined {
  const ready = report.plans.filter((p) => p.phases.length > 0).map((p) => p.pool.name);
  if (ready.length === 0) return undefined;
  const rollback = report.plans.some((p) => p.kind === 'rollback');
  const flag = rollback ? '' : { full: '', stage: ' --stage', promote: ' --promote' }[report.mode];
  const pools = ready.map((p) => `-p ${p}`).join(' ');
  const command = `stekctl ${rollback ? 'rollback' : 'rotate'} ${pools}${flag}`;
  const one = ready.length === 1;
  return `${ready.join(', ')} ${one ? 'was' : 'were'} not changed either, as a run changes all its pools or none: \`${command}\` acts on ${one ? 'it' : 'them'} alone`;
}
