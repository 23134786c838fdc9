import { randomInt } from 'node:crypto';
import type { TlsVersion } from '../inventory/types.js';

/** Offer the ticket issued by `from` to `to`. */
export interface ProbePair {
  from: string;
  to: string;
}

/** A source of numbers in [0, 1). */
export type Rng = () => number;

/** A deterministic generator (mulberry32) for reproducible plans in tests and `--seed`. */
export function createSeededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A generator backed by the system CSPRNG, so that plans differ between runs. */
export function createRandomRng(): Rng {
  return () => randomInt(0, 2 ** 47) / 2 ** 47;
}

/** Fisher-Yates on a copy. */
export function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(rng() * (i + 1)));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Which tickets to offer where. Up to `matrixMax` nodes: every node's ticket at every node,
 * itself included (N x N). Larger pools get 2N probes: the nodes are put in a random cycle and
 * each node's ticket is offered to itself and to its successor, so every node both resumes its
 * own ticket and accepts a foreign one; the cycle changes from run to run, so over several runs
 * every pair gets exercised. The order of the returned pairs is shuffled too, so that no node
 * always receives the first or the last probes.
 */
export function planProbes(nodes: readonly string[], matrixMax: number, rng: Rng): ProbePair[] {
  const unique = [...new Set(nodes)];
  let pairs: ProbePair[];
  if (unique.length <= matrixMax) {
    pairs = unique.flatMap((from) => unique.map((to) => ({ from, to })));
  } else {
    const cycle = shuffle(unique, rng);
    pairs = cycle.flatMap((from, i) =>
      cycle.length > 1
        ? [
            { from, to: from },
            { from, to: cycle[(i + 1) % cycle.length] as string },
          ]
        : [{ from, to: from }],
    );
  }
  return shuffle(pairs, rng);
}

/**
 * A pool verification's offers, version after version, each version's pairs from planProbes:
 * the same generator state gives the same list, so that offers made ahead of the verification
 * (see early-checks.ts) are the very ones it asks for.
 */
export function planPoolOffers(
  nodes: readonly string[],
  versions: readonly TlsVersion[],
  matrixMax: number,
  rng: Rng,
): (ProbePair & { version: TlsVersion })[] {
  return versions.flatMap((version) =>
    planProbes(nodes, matrixMax, rng).map((pair) => ({ ...pair, version })),
  );
}

/**
 * Which earlier tickets to offer where, when the question is whether every node resumes (or
 * rejects) tickets under each key they were issued under: every node receives one ticket per
 * key, from another node where one holds a ticket under that key. A ticket resumes by its key
 * and the receiving server's certificate, not by which node issued it, so further offers under
 * the same key prove nothing more, while a foreign one also catches a node whose certificate
 * differs. Issuers and receivers are paired in random order, changing from run to run.
 */
export function planKeyCoverage(
  issuersByKey: ReadonlyMap<string, readonly string[]>,
  receivers: readonly string[],
  rng: Rng,
): (ProbePair & { keyId: string })[] {
  const pairs: (ProbePair & { keyId: string })[] = [];
  for (const [keyId, issuers] of issuersByKey) {
    const from = shuffle([...new Set(issuers)], rng);
    if (from.length === 0) continue;
    shuffle([...new Set(receivers)], rng).forEach((to, i) => {
      let issuer = from[i % from.length] as string;
      if (issuer === to && from.length > 1) issuer = from[(i + 1) % from.length] as string;
      pairs.push({ from: issuer, to, keyId });
    });
  }
  return shuffle(pairs, rng);
}
