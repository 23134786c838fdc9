/** Suggests the known keys closest to a mistyped one (`reloadd` -> `reload`), best first. */
export function suggestKeys(key: string, known: readonly string[]): string[] {
  const plain = normalize(key);
  const exact = known.filter((k) => normalize(k) === plain || normalize(lastPart(k)) === plain);
  if (exact.length > 0) return exact;
  if (key.length > 64) return [];
  let best = Number.POSITIVE_INFINITY;
  let matches: string[] = [];
  for (const candidate of known) {
    const distance = editDistance(plain, normalize(lastPart(candidate)));
    if (distance > 2 || distance * 2 >= plain.length) continue;
    if (distance < best) {
      best = distance;
      matches = [candidate];
    } else if (distance === best) {
      matches.push(candidate);
    }
  }
  return matches;
}

export function formatSuggestion(key: string, known: readonly string[]): string {
  const matches = suggestKeys(key, known);
  if (matches.length > 0) return `; did you mean ${matches.map((m) => `\`${m}\``).join(' or ')}?`;
  return `; expected one of: ${known.filter((k) => !k.includes('.')).join(', ')}`;
}

/** Case, `_` and `-` differences (`key_dir`, `KeyDir`) are the same key to a reader. */
function normalize(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

function lastPart(key: string): string {
  return key.slice(key.lastIndexOf('.') + 1);
}

/** Edit distance counting a swap of neighbours (`prot` for `port`) as one edit. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i += 1) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j += 1) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}
