// A pull-based `ReadableStream` over an async iterator, for the `toReadableStream()` views of
// ChatStream and AgentStream.

/**
 * Each `pull` takes the iterator's next value. Cancelling the stream calls `abort(reason)`
 * first, then `return()`s the iterator: a pull may be waiting (on a silent server, say), and
 * `return()` would queue behind it, so `abort` must make that wait settle now.
 */
export function iteratorStream<T>(
  it: AsyncIterator<T>,
  abort: (reason: unknown) => void,
  strategy?: QueuingStrategy<T>,
): ReadableStream<T> {
  return new ReadableStream<T>({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      abort(reason);
      await it.return?.();
    },
  }, strategy);
}
