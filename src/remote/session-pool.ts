import pLimit from 'p-limit';
import type { NodeSpec } from '../inventory/types.js';
import { openSession, type RemoteSession } from './ssh-session.js';

/**
 * Opens one session per node, at most `concurrency` connecting at once. Every node gets an
 * entry, keyed by NodeSpec.name in the order given: the session, or the error that stopped it
 * (HostKeyError, ConnectError, ...). One failing node does not stop the others.
 */
export async function openSessions(
  nodes: NodeSpec[],
  opts: { concurrency: number; acceptNewHostKey?: boolean },
): Promise<Map<string, RemoteSession | Error>> {
  const limit = pLimit(Math.max(1, Math.floor(opts.concurrency)));
  const outcomes = await Promise.all(
    nodes.map((node) =>
      limit(async (): Promise<RemoteSession | Error> => {
        try {
          return await openSession(node, { acceptNewHostKey: opts.acceptNewHostKey ?? false });
        } catch (err) {
          return err instanceof Error ? err : new Error(String(err));
        }
      }),
    ),
  );
  return new Map(nodes.map((node, i) => [node.name, outcomes[i] as RemoteSession | Error]));
}

/** Closes every session of the map (errors are skipped); never rejects. */
export async function closeSessions(
  sessions: ReadonlyMap<unknown, RemoteSession | Error | undefined>,
): Promise<void> {
  const open = [...sessions.values()].filter(
    (s): s is RemoteSession => s !== undefined && !(s instanceof Error),
  );
  await Promise.allSettled(open.map((s) => s.close()));
}
