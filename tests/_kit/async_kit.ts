// The async helpers every test file uses: one implementation of each.
import assert from "node:assert/strict";
import type { ChatDelta } from "../../src/chat.ts";

/**
 * Awaits `promise`, asserts that it rejects, and returns the rejection reason. `what` names
 * the promise in the failure message.
 */
export async function rejection(promise: Promise<unknown>, what = "promise"): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`${what} resolved, but it should have rejected`);
}

/** Iterates to the end or to the first error; returns what arrived, and the error if any. */
export async function settle<T>(
  iterable: AsyncIterable<T>,
): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  let error: unknown;
  try {
    for await (const item of iterable) items.push(item);
  } catch (err) {
    error = err;
  }
  return { items, error };
}

/** Every item of an async iterable, in order; rejects with what the iterable throws. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const { items, error } = await settle(iterable);
  if (error !== undefined) throw error;
  return items;
}

/**
 * Iterates a stream of chat deltas to the end (or to its error) and keeps what arrived: the
 * deltas, their text and reasoning joined, and the error (`undefined` when none).
 */
export async function collectDeltas(
  stream: AsyncIterable<ChatDelta>,
): Promise<{ deltas: ChatDelta[]; text: string; reasoning: string; error: unknown }> {
  const { items: deltas, error } = await settle(stream);
  return {
    deltas,
    text: deltas.map((d) => d.text).join(""),
    reasoning: deltas.map((d) => d.reasoning).join(""),
    error,
  };
}

/** Resolves after `ms` (for letting a server or a cancel callback catch up). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with an AssertionError if `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new assert.AssertionError({ message: `${what}: still pending after ${ms} ms` })),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every 5 ms until it holds (true) or `ms` have passed (its last value). */
export async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await sleep(5);
  }
  return check();
}
