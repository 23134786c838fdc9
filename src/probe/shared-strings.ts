/**
 * Key ids and certificate fingerprints repeat across a pool: every node names the same few
 * keys and serves the same certificate. Probes keep them (tickets, reports) for the whole run,
 * and without sharing, 10,000 nodes held 20,000 copies of one fingerprint. A small table that
 * is emptied when full keeps this bounded in a long-lived process.
 */
const table = new Map<string, string>();
const tableMax = 256;

/** The one copy of `value` this module already holds, or `value` itself from now on. */
export function shareString(value: string): string;
export function shareString(value: string | undefined): string | undefined;
export function shareString(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const held = table.get(value);
  if (held !== undefined) return held;
  if (table.size >= tableMax) table.clear();
  table.set(value, value);
  return value;
}
