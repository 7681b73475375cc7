export { metricsStage } from './metrics-stage.js';
export { createMetrics, type Metrics } from './registry.js';
export { methodLabel, RequestMetrics } from './request-metrics.js';
export { createRequestRecorder, type RequestRecorder } from './request-recorder.js';
