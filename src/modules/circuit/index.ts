export { CIRCUIT_STATE_VALUE, type Circuit, type CircuitStateName, createCircuit } from './circuit.js';
export { createTripBreaker, EitherBreaker, type TripSettings } from './either-breaker.js';
