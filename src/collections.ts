/**
 * Groups items by key, in first-seen order; items whose key is undefined are left out. Linear:
 * pools are grouped by ring or key id, and a pool of thousands of nodes often has one group.
 */
export function groupBy<T>(
  items: Iterable<T>,
  keyOf: (item: T) => string | undefined,
): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    if (key !== undefined) addTo(groups, key, item);
  }
  return groups;
}

/** Appends an item to its key's list, creating the list on first use. */
export function addTo<K, T>(groups: Map<K, T[]>, key: K, item: T): void {
  const list = groups.get(key);
  if (list === undefined) groups.set(key, [item]);
  else list.push(item);
}
