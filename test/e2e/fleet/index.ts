/**
 * The loopback fleet the end-to-end tests run against lives in src/loopback, because
 * `npm run demo` starts the same fleet. Tests import it from here.
 */
export * from '../../../src/loopback/index.js';
