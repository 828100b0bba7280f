// Combining abort signals. `AbortSignal.any` is missing on some edge runtimes (Vercel's
// edge-runtime, older Safari), so fall back to a controller fed by every input signal.

/** A signal that aborts, with the same reason, as soon as any of `signals` aborts. */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const inputs = signals.filter((s): s is AbortSignal => s !== undefined);
  if (inputs.length === 1) return inputs[0]!;
  if (typeof AbortSignal.any === "function") return AbortSignal.any(inputs);
  const controller = new AbortController();
  const onAbort = (event: Event) => {
    for (const s of inputs) s.removeEventListener("abort", onAbort);
    controller.abort((event.target as AbortSignal).reason);
  };
  for (const s of inputs) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    s.addEventListener("abort", onAbort, { once: true });
  }
  if (controller.signal.aborted) {
    for (const s of inputs) s.removeEventListener("abort", onAbort);
  }
  return controller.signal;
}

/**
 * Settles like `promise`, or rejects with `signal.reason` as soon as the signal aborts, so
 * work that ignores its signal (a tool, a test handler) cannot hold up an aborted caller. The
 * work keeps running in the background; its eventual rejection is swallowed.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
