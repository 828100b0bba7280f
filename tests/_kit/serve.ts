// Serves a web-standard handler on 127.0.0.1 with whichever runtime runs the tests, so the
// same test files exercise a real socket on Deno, Bun and Node. Runtime-specific code lives
// here, never in src/.

/** A handler served on a loopback port. */
export interface Served {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** `http://127.0.0.1:<port>/v1` */
  baseURL: string;
  port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

type Handler = (request: Request) => Response | Promise<Response>;

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** The runtime running this test file. */
export const runtime: "deno" | "bun" | "node" = g.Deno ? "deno" : g.Bun ? "bun" : "node";

/** Serves `handler` on 127.0.0.1 (port chosen by the OS). */
export async function serve(handler: Handler): Promise<Served> {
  if (runtime === "deno") return serveDeno(handler);
  if (runtime === "bun") return serveBun(handler);
  return await serveNode(handler);
}

function served(port: number, close: () => Promise<void>): Served {
  const origin = `http://127.0.0.1:${port}`;
  return { origin, baseURL: `${origin}/v1`, port, close };
}

function serveDeno(handler: Handler): Promise<Served> {
  const controller = new AbortController();
  return new Promise((resolve) => {
    const server = g.Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      signal: controller.signal,
      onListen: () => {},
      onError: () => new Response("internal error", { status: 500 }),
    }, handler);
    resolve(served(server.addr.port, async () => {
      controller.abort();
      await server.finished.catch(() => {});
    }));
  });
}

function serveBun(handler: Handler): Promise<Served> {
  const server = g.Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler, idleTimeout: 0 });
  return Promise.resolve(served(server.port, async () => {
    await server.stop(true);
  }));
}

async function serveNode(handler: Handler): Promise<Served> {
  const http = await import("node:http");
  const { Readable } = await import("node:stream");
  const server = http.createServer(async (req, res) => {
    const controller = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) controller.abort(new Error("client disconnected"));
    });
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string") headers.set(k, v);
      else if (Array.isArray(v)) { for (const x of v) headers.append(k, x); }
    }
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const request = new Request(`http://127.0.0.1${req.url}`, {
      method: req.method,
      headers,
      body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
      signal: controller.signal,
      // @ts-ignore: Node's fetch needs duplex for streamed request bodies.
      duplex: "half",
    });
    let response: Response;
    try {
      response = await handler(request);
    } catch {
      res.writeHead(500).end("internal error");
      return;
    }
    const outHeaders: Record<string, string> = {};
    response.headers.forEach((v, k) => (outHeaders[k] = v));
    res.writeHead(response.status, outHeaders);
    if (!response.body) return res.end();
    const reader = response.body.getReader();
    res.on("close", () => reader.cancel().catch(() => {}));
    let written: Promise<void> = Promise.resolve();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        written = new Promise((resolve) => res.write(value, () => resolve()));
      }
      res.end();
    } catch {
      // The body errored mid-stream (an injected disconnect): reset the connection, once
      // what was already written has reached the socket (destroy() would drop it).
      await written;
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return served(port, () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
}

/** A port on 127.0.0.1 with nothing listening (for connection-refused tests). */
export async function closedPort(): Promise<number> {
  const s = await serve(() => new Response("x"));
  const port = s.port;
  await s.close();
  return port;
}
