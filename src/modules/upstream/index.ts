export type { UpstreamClient, UpstreamOptions, UpstreamRequest, UpstreamResponse } from './client.js';
export { createUpstreamClient, isAbort, toUpstreamError } from './client.js';
export { appendVia, forwardRequestHeaders, VIA } from './forward-headers.js';
export { createOriginProbe } from './probe.js';
export { upstreamStage } from './upstream-stage.js';
