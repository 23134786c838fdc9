/**
 * Every error the user may see, with the exit code it maps to. The CLI turns these into a
 * message and an exit code in one place (src/cli/exit.ts); nothing else decides exit codes.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  notRestored: 3,
  locked: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class StekError extends Error {
  readonly exitCode: ExitCode;
  /** What the operator should do next, printed under the message. */
  readonly hint: string | undefined;
  constructor(message: string, exitCode: ExitCode, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** Bad command line: exit 2, nothing contacted. */
export class UsageError extends StekError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.usage, hint);
  }
}

/** A problem in the inventory, located at file:line and a field path: exit 2. */
export class InventoryError extends StekError {
  readonly file: string;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(file: string, line: number | undefined, field: string | undefined, problem: string) {
    const where = [file, line].filter((p) => p !== undefined).join(':');
    super(`${where}: ${field ? `${field}: ` : ''}${problem}`, ExitCode.usage);
    this.file = file;
    this.line = line;
    this.field = field;
  }
}

/** The operation failed and the fleet is as it was: exit 1. */
export class OperationError extends StekError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.failed, hint);
  }
}

/** Failed and not fully restored: exit 3. `nodes` names what a person must look at. */
export class NotRestoredError extends StekError {
  readonly nodes: string[];
  constructor(message: string, nodes: string[], hint?: string) {
    super(message, ExitCode.notRestored, hint);
    this.nodes = nodes;
  }
}

/** Another run holds the pool: exit 4, nothing touched. */
export class LockedError extends StekError {
  constructor(message: string) {
    super(message, ExitCode.locked);
  }
}
