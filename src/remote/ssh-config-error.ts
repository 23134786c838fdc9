import { UsageError } from '../errors.js';

/** A problem in an ssh client config: exit 2, nothing contacted. */
export class SshConfigError extends UsageError {
  readonly file: string;
  constructor(file: string, problem: string, hint?: string) {
    super(`ssh config ${file}: ${problem}`, hint);
    this.file = file;
  }
}
