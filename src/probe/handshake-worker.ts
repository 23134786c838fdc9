import { parentPort } from 'node:worker_threads';
import { asBuffer, type FromWorker, type ToWorker } from './handshake-workers.js';
import { ProbeError } from './probe-error.js';
import { runHandshakeHere } from './tls-connection.js';

/* A probe worker thread (handshake-workers.ts): runs the handshakes it is sent, one message in
 * and one out per handshake. */

const port = parentPort;
const aborts = new Map<number, AbortController>();

function reply(msg: FromWorker): void {
  port?.postMessage(msg);
}

port?.on('message', (msg: ToWorker) => {
  if ('abort' in msg) {
    aborts.get(msg.id)?.abort();
    return;
  }
  const { id, job } = msg;
  const abort = new AbortController();
  aborts.set(id, abort);
  const session = job.session === undefined ? undefined : asBuffer(job.session);
  runHandshakeHere(job.target, job.version, { session, signal: abort.signal })
    .then(
      (outcome) => reply({ id, outcome }),
      (err: unknown) => {
        const e =
          err instanceof ProbeError
            ? err
            : new ProbeError('tls-error', job.target.node, (err as Error).message);
        const hint = e.hint === undefined ? {} : { hint: e.hint };
        reply({
          id,
          error: { code: e.code, node: e.node, message: e.message, detail: e.detail, ...hint },
        });
      },
    )
    .finally(() => aborts.delete(id));
});
