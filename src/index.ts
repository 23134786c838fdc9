export { ExitCode, StekError } from './errors.js';
