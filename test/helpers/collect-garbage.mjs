// Preloaded (`node --expose-gc --import`) into service processes whose memory a test watches: a full
// collection every second, so that the heap used between two samples is what is live, not garbage
// waiting for V8 to get to it.
setInterval(() => globalThis.gc(), 1_000).unref();
