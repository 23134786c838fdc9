import { InventoryError } from '../errors.js';

export interface Problem {
  line: number | undefined;
  field: string | undefined;
  problem: string;
}

/** More than this many problems only adds noise; the rest is counted. */
const maxListed = 20;

/**
 * Collects every problem found so that one run shows them all, then throws them as one
 * InventoryError whose file/line/field are the first problem's.
 */
export class ProblemList {
  readonly file: string;
  private readonly items: Problem[] = [];
  private unlisted = 0;

  constructor(file: string) {
    this.file = file;
  }

  add(line: number | undefined, field: string | undefined, problem: string): void {
    if (this.items.length >= maxListed) this.unlisted += 1;
    else this.items.push({ line, field, problem });
  }

  get count(): number {
    return this.items.length + this.unlisted;
  }

  throwIfAny(): void {
    // In file order, so the first reported is the first a reader meets; sort() is stable.
    const sorted = [...this.items].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    const [first, ...rest] = sorted;
    if (!first) return;
    const lines = rest.map((p) => formatProblem(this.file, p));
    if (this.unlisted > 0) lines.push(`… and ${this.unlisted} more problems`);
    const problem = [first.problem, ...lines].join('\n');
    throw new InventoryError(this.file, first.line, first.field, problem);
  }
}

export function formatProblem(file: string, p: Problem): string {
  const where = [file, p.line].filter((x) => x !== undefined).join(':');
  return `${where}: ${p.field ? `${p.field}: ` : ''}${p.problem}`;
}

/** Raised to stop reading once the input is hopeless; the problems already say why. */
export class ReadingStopped extends Error {}
