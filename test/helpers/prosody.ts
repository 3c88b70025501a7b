// The peer-starting code lives in peers/ so the demo and the benchmarks share it with the tests.
export * from '../../peers/prosody.js';
