// Real sockets for the tests: the test kit's serve() (src/testing/serve.ts: Deno.serve,
// Bun.serve or node:http, whichever runtime runs the test file), plus what only tests need.
import { serve } from "../../src/testing/serve.ts";

export { serve, type Served } from "../../src/testing/serve.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** The runtime running this test file. */
export const runtime: "deno" | "bun" | "node" = g.Deno ? "deno" : g.Bun ? "bun" : "node";

/** A port on 127.0.0.1 with nothing listening (for connection-refused tests). */
export async function closedPort(): Promise<number> {
  const s = await serve(() => new Response("x"));
  const port = s.port;
  await s.close();
  return port;
}
