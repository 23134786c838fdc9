import type { Manifest, RawNodeState, RingEntry } from './types.js';

/** Parses a managed conf for one directive's file arguments, in order. Mirrors the read script. */
export function directivePaths(conf: string | undefined, directive: string): string[] {
  if (!conf) return [];
  const re = new RegExp(`^\\s*${directive}\\s+"?([^";\\s]*)`);
  const paths: string[] = [];
  for (const line of conf.split('\n')) {
    const m = re.exec(line);
    if (m?.[1]) paths.push(m[1]);
  }
  return paths;
}

/** Ring entries for key files named in a managed conf (nginx, Apache). */
export function fileRingEntries(
  raw: RawNodeState,
  paths: string[],
  roleOf: (index: number) => RingEntry['role'],
  nowSeconds: number,
): RingEntry[] {
  const manifest = parseManifest(raw.manifestText);
  return paths.map((path, i) => {
    const ref = raw.referenced.get(path);
    const base = { source: path, role: roleOf(i) };
    if (ref === undefined || ref === 'missing') {
      return {
        ...base,
        keyId: undefined,
        size: undefined,
        mode: undefined,
        ageSeconds: undefined,
        problem: `refers to ${path}, which does not exist`,
      };
    }
    const fileName = path.slice(path.lastIndexOf('/') + 1);
    const local = raw.files.find((f) => f.file === fileName);
    return {
      ...base,
      keyId: ref.keyId,
      size: ref.size,
      mode: ref.mode,
      ageSeconds: ageOf(ref.keyId, manifest, local?.mtime, nowSeconds),
      problem:
        ref.size === 48 || ref.size === 80
          ? undefined
          : `${path} is ${ref.size} bytes, not a 48- or 80-byte key`,
    };
  });
}

export function ageOf(
  keyId: string | undefined,
  manifest: Manifest | undefined,
  mtime: number | undefined,
  nowSeconds: number,
): number | undefined {
  const created = keyId ? manifest?.keys[keyId]?.created : undefined;
  const since = created ? Date.parse(created) / 1000 : mtime;
  return since === undefined || Number.isNaN(since)
    ? undefined
    : Math.max(0, Math.round(nowSeconds - since));
}

/** The node-side manifest, or undefined when it is absent or unreadable (then it is not trusted). */
export function parseManifest(text: string | undefined): Manifest | undefined {
  if (!text) return undefined;
  try {
    const m = JSON.parse(text) as Partial<Manifest>;
    if (m.version !== 1 || typeof m.keys !== 'object' || m.keys === null) return undefined;
    return {
      version: 1,
      pool: String(m.pool ?? ''),
      keys: m.keys,
      previousRing: Array.isArray(m.previousRing) ? m.previousRing : undefined,
      lastRotation: typeof m.lastRotation === 'string' ? m.lastRotation : undefined,
      ...(m.lastChange === 'rollback' || m.lastChange === 'rotation'
        ? { lastChange: m.lastChange }
        : {}),
      pending: m.pending ?? undefined,
    };
  } catch {
    return undefined;
  }
}
