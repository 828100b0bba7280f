// Shared by the integration files: the server's settings from the environment, the skip for
// runs without a server, a recording fetch and the agent's tools.
//
// The server is llama.cpp's llama-server serving a tiny random-weight model
// (../shared/real-server/llama-server.sh); `npm run test:integration` starts it and sets
// LMSTUDIO_BASE_URL / LMSTUDIO_MODEL / LMSTUDIO_API_KEY. The model's words are gibberish but
// deterministic for a given seed, so every sampled request here carries a fixed `seed`: a
// failure reproduces on the next run.
import { test } from "node:test";
import * as z from "zod";
import { defineTool } from "../../mod.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** An environment variable, on Deno, Bun or Node. */
export function env(name: string): string | undefined {
  return (g.Deno ? g.Deno.env.get(name) : g.process.env[name]) || undefined;
}

/** The server under test, or `undefined` when no server was given. */
export const BASE_URL: string | undefined = env("LMSTUDIO_BASE_URL");

/** Registers the one skipped test a file has when there is no server. */
export function skipWithoutServer(what: string): void {
  const reason = "LMSTUDIO_BASE_URL is not set; `npm run test:integration` starts a real " +
    "llama.cpp server and runs these tests against it";
  test(`${what}: skipped (${reason})`, { skip: reason }, () => {});
}

/** One request as the client sent it. */
export interface SentRequest {
  method: string;
  url: string;
  headers: Headers;
  body: Record<string, unknown> | undefined;
  /** The same method, URL and body as the request before it: the client retried that one. */
  retry: boolean;
}

/**
 * The real `fetch`, recording every request (body parsed) into `sent`.
 *
 * A retry (the client sending the same request again, after a dropped connection or a 5xx)
 * is recorded with `retry: true`: a pooled connection that the server closed shows up on Bun
 * as an ECONNRESET at the next request, which the client retries.
 *
 * With `seed`, the n-th chat request (from 0) is sent with `seed: seed * 10 + n`; a retry
 * keeps the seed of the request it repeats, so it samples the same reply.
 * llama-server restarts its sampler from a request's seed, so one seed in an agent's params
 * would replay the same random draws at every step of a run (each step then repeats the
 * first step's choice); a seed per request samples like an unseeded server, reproducibly.
 */
export function recordingFetch(
  sent: SentRequest[],
  seed?: number,
  options: { chatOnly?: boolean } = {},
): typeof fetch {
  let requests = 0;
  let previous = "";
  let seeded: string | undefined;
  return ((input: RequestInfo | URL, init?: RequestInit) => {
    if (options.chatOnly && !String(input).endsWith("/chat/completions")) {
      return fetch(input, init);
    }
    const method = init?.method ?? "GET";
    const raw = typeof init?.body === "string" ? init.body : undefined;
    const key = `${method} ${input} ${raw}`;
    const retry = key === previous;
    previous = key;
    let body = raw === undefined ? undefined : JSON.parse(raw);
    if (body && seed !== undefined) {
      if (!retry) {
        body.seed = seed * 10 + requests++;
        seeded = JSON.stringify(body);
      }
      init = { ...init, body: seeded };
      body = JSON.parse(seeded!);
    }
    sent.push({ method, url: String(input), headers: new Headers(init?.headers), body, retry });
    return fetch(input, init);
  }) as typeof fetch;
}

/** Per-test time limit: agent runs on a 2-core CI machine take several seconds each. */
export const SLOW = { timeout: 180_000 };

/** Numbers to add: the model's arguments are random, but the grammar makes them numbers. */
export const add = defineTool({
  name: "add",
  description: "Add two numbers and return the sum.",
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => a + b,
});

/** A tool with a string argument, so the grammar has two differently shaped call branches. */
export const lookup = defineTool({
  name: "lookup",
  description: "Look up a word in the dictionary and return its definition.",
  parameters: z.object({ word: z.string() }),
  execute: ({ word }) => `${word}: a word of the tiny model's language.`,
});
