export { type Balancer, type BalancerOptions, createBalancer } from './balancer.js';
export {
  type BreakerSettings,
  type CircuitReport,
  createOriginBreakers,
  isBackendFailure,
  type OriginBreakers,
  originName,
} from './breaker.js';
export type {
  ClientWatch,
  UpstreamClient,
  UpstreamOptions,
  UpstreamRequest,
  UpstreamResponse,
} from './client.js';
export {
  createUpstreamClient,
  isAbort,
  isProtocolFailure,
  toUpstreamError,
  upstreamBodyError,
} from './client.js';
export { createDispatch, type Dispatch, type DispatchDeps } from './dispatch.js';
export { upstreamFailureReason } from './failure-reason.js';
export { appendVia, forwardRequestHeaders, VIA } from './forward-headers.js';
export { createOriginProbe, probeAny } from './probe.js';
export { mayRetry, neverReachedBackend } from './retry.js';
export { upstreamStage } from './upstream-stage.js';
