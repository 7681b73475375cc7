export { createLimiter, type Limiter, type LimiterSettings } from './limiter.js';
export { createMemoryLimiter, type MemoryLimiter } from './memory-limiter.js';
export { type RateLimitStageDeps, rateLimitStage } from './rate-limit-stage.js';
export { type Bucket, refillMs, takeToken, type Verdict } from './token-bucket.js';
