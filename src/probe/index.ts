export { ProbeError, type ProbeErrorCode } from './probe-error.js';
export {
  formatAddress,
  poolProbeSettings,
  toProbeTarget,
  type PoolProbeSettings,
  type ProbeTarget,
} from './probe-target.js';
export {
  offerTicket,
  takeTicket,
  type ProbeCallOptions,
  type ResumeResult,
  type TicketSample,
} from './tls-probe.js';
export {
  createRandomRng,
  createSeededRng,
  planPoolOffers,
  planProbes,
  shuffle,
  type ProbePair,
  type Rng,
} from './probe-plan.js';
export {
  describeFailure,
  directProber,
  probePool,
  type PoolProbeOptions,
  type Prober,
} from './verify-pool.js';
export {
  createUnreachableProber,
  openSshProber,
  sshProbeConcurrency,
  type SshProber,
} from './ssh-probe.js';
export type * from './report-types.js';
export {
  checkTicketsRejected,
  checkTicketsResume,
  confirmKeyEverywhere,
  planTicketOffers,
  takeTickets,
  type ConfirmOptions,
  type KeyConfirmation,
  type RotationCheckOptions,
  type TicketCheck,
  type TicketOffer,
  type TicketSet,
} from './rotation-checks.js';
export { canReuseTickets, shortestTicketLifetimeMs } from './ticket-reuse.js';
