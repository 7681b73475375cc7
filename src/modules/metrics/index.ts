export { metricsStage, upstreamFailureReason } from './metrics-stage.js';
export { createMetrics, type Metrics } from './registry.js';
export { createRequestRecorder, methodLabel, type RequestRecorder } from './request-recorder.js';
