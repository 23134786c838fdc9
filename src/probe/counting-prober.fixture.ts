import type { TlsVersion } from '../inventory/types.js';
import type { ResumeResult, TicketSample } from './tls-probe.js';
import type { Prober } from './verify-pool.js';

/**
 * A prober for tests that never touches the network: every node issues `sampleOf`'s tickets and
 * resumes every ticket offered to it, re-issuing one under `reissuedKeyId` if given. Records
 * each handshake: takes as "version node", offers as "version from>to".
 */
export function countingProber(
  sampleOf: (node: string, version: TlsVersion) => TicketSample,
  reissuedKeyId?: string,
): { prober: Prober; takes: string[]; offers: string[] } {
  const takes: string[] = [];
  const offers: string[] = [];
  const prober: Prober = {
    takeTicket: (t, version) => {
      takes.push(`${version} ${t.node}`);
      return Promise.resolve(sampleOf(t.node, version));
    },
    offerTicket: (t, version, s): Promise<ResumeResult> => {
      offers.push(`${version} ${s.node}>${t.node}`);
      return Promise.resolve({
        node: t.node,
        from: s.node,
        version,
        reused: true,
        offeredKeyId: s.keyId,
        keyId: reissuedKeyId,
        certFingerprint: undefined,
      });
    },
  };
  return { prober, takes, offers };
}
