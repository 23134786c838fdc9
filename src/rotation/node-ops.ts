import type { NodeSpec } from '../inventory/types.js';
import type { RemoteSession } from '../remote/ssh-session.js';
import {
  buildApplyScript,
  parseApplyOutput,
  reloadMark,
  type ApplyOutcome,
} from '../servers/apply-script.js';
import type { PlacedRing, ServerAdapter } from '../servers/types.js';
import { quoteShell } from '../remote/shell.js';
import type { LockRelease } from './lock-handoff.js';

export interface StepRequest {
  ring: PlacedRing | undefined;
  /** The new key as the server reads it, and its basename in keyDir; written before anything refers to it. */
  newKey: { file: string; bytes: Buffer } | undefined;
  adopt: boolean;
  writeManaged: boolean;
  reload: boolean;
  deleteFiles: string[];
  manifest: string | undefined;
  /** Release the pool lock at the end of the transaction (the node's last command of the run). */
  releaseLock?: LockRelease | undefined;
  /** The pid file the node's read found (NodeState.pidFile). */
  pidFile?: string | undefined;
}

/** How long a node may take to show a new generation of server processes after a reload. */
const generationWaitMs = 15_000;

/**
 * Runs one step on one node as a single command: write, check, reload and confirm the reload
 * node-side; the node puts itself back if any of it fails.
 */
export async function applyStep(
  session: RemoteSession,
  adapter: ServerAdapter,
  node: NodeSpec,
  req: StepRequest,
): Promise<ApplyOutcome> {
  const script = buildApplyScript(adapter, node, {
    newKeys: req.newKey ? [{ file: req.newKey.file, size: req.newKey.bytes.length }] : [],
    adoptKeyLines: req.adopt,
    managed: req.writeManaged ? adapter.renderManaged(node, req.ring) : undefined,
    manifest: req.manifest,
    check: req.writeManaged || req.reload,
    reload: req.reload,
    deleteFiles: req.deleteFiles,
    generationWaitMs,
    releaseLock: req.releaseLock?.script,
    pidFile: req.pidFile,
  });
  const stdin = req.newKey ? Buffer.from(`${req.newKey.bytes.toString('base64')}\n`) : undefined;
  try {
    const res = await session.exec(`sh -c ${quoteShell(script)}`, {
      ...(stdin ? { stdin } : {}),
      timeoutMs: 120_000,
      markAt: reloadMark,
    });
    const outcome = parseApplyOutput(res.stdout, res.stderr, res.code, res.markedAt);
    if (outcome.ok && outcome.lockReleased) req.releaseLock?.onReleased();
    return outcome;
  } catch (err) {
    // The connection broke or timed out: what the node did is unknown until it is read again.
    return {
      ok: false,
      step: 'setup',
      message: err instanceof Error ? err.message : String(err),
      restored: false,
    };
  } finally {
    stdin?.fill(0);
  }
}
