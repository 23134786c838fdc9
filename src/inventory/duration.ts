import { UsageError } from '../errors.js';
import { quoteValue } from './quote.js';

/**
 * Node's timers hold at most 2^31-1 ms; a longer delay fires at once (with only a warning),
 * which would turn a long overlap into none at all.
 */
export const maxDurationMs = 2 ** 31 - 1;

const unitMs = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type Unit = keyof typeof unitMs;
const unitOrder: readonly Unit[] = ['h', 'm', 's', 'ms'];
const componentPattern = /(\d{1,9}(?:\.\d{1,9})?)(ms|h|m|s)/y;

/**
 * Parses "90s", "10m", "2h", "1h30m", "250ms" or "0"; a number counts as seconds.
 * Returns milliseconds. Throws UsageError on negative, malformed or too long durations;
 * the inventory loader turns that into an InventoryError with a location.
 */
export function parseDuration(text: string | number): number {
  const ms = typeof text === 'number' ? secondsToMs(text) : textToMs(text);
  if (ms > maxDurationMs) {
    throw new UsageError(`duration ${describe(text)} is too long; at most 24 days (24d = 576h)`);
  }
  return ms;
}

function secondsToMs(seconds: number): number {
  if (!Number.isFinite(seconds)) {
    throw new UsageError(`duration ${describe(seconds)} is not a finite number of seconds`);
  }
  if (seconds < 0) throw new UsageError(`duration ${describe(seconds)} is negative`);
  return Math.round(seconds * 1000);
}

function textToMs(raw: string): number {
  const text = raw.trim();
  if (text === '0') return 0;
  if (text.startsWith('-')) throw new UsageError(`duration ${describe(raw)} is negative`);
  const malformed = () =>
    new UsageError(`${describe(raw)} is not a duration; write e.g. 90s, 10m, 2h, 1h30m or 0`);
  if (text === '' || text.length > 64) throw malformed();
  let total = 0;
  let offset = 0;
  let lastRank = -1;
  while (offset < text.length) {
    componentPattern.lastIndex = offset;
    const match = componentPattern.exec(text);
    if (!match) throw malformed();
    const unit = match[2] as Unit;
    const rank = unitOrder.indexOf(unit);
    // "30m1h" or "1m1m" are more likely typos than intent.
    if (rank <= lastRank) throw malformed();
    lastRank = rank;
    const amount = Number(match[1]);
    if (unit === 'ms' && !Number.isInteger(amount)) throw malformed();
    total += amount * unitMs[unit];
    offset = componentPattern.lastIndex;
  }
  return Math.round(total);
}

function describe(value: string | number): string {
  return quoteValue(value, 40);
}
