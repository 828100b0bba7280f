/**
 * {@link serve}: a web-standard `(Request) => Response` handler (the fake LM Studio's
 * `handler`, an edge function) on a real 127.0.0.1 socket, with whichever runtime runs it:
 * `Deno.serve`, `Bun.serve`, or `node:http` (imported only on Node).
 *
 * @module
 */

/** A handler served on a loopback port. */
export interface Served {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** `http://127.0.0.1:<port>/v1`: the `baseURL` for an `LMStudioClient`. */
  baseURL: string;
  /** The port the OS chose. */
  port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** What {@link serve} serves. */
export type Handler = (request: Request) => Response | Promise<Response>;

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/**
 * Serves `handler` on 127.0.0.1 (port chosen by the OS) under Deno, Bun or Node. A client
 * going away aborts `request.signal` and cancels the response body; a handler that throws
 * answers 500.
 *
 * @param handler The handler, e.g. `createFakeLMStudio().handler`.
 * @returns Where it listens, and `close()`.
 * @throws {Error} On a runtime with none of `Deno.serve`, `Bun.serve` or `node:http`.
 *
 * @example Serve the fake LM Studio for a client on a real socket
 * ```ts
 * import { LMStudioClient } from "@ai-agent/orchestrator";
 * import { createFakeLMStudio, serve } from "@ai-agent/orchestrator/testing";
 *
 * const fake = createFakeLMStudio({ replies: [{ content: "Hello" }] });
 * const server = await serve(fake.handler);
 * try {
 *   const client = new LMStudioClient({ baseURL: server.baseURL, model: "m" });
 *   console.log((await client.generate({ messages: [{ role: "user", content: "Hi" }] })).text);
 * } finally {
 *   await server.close();
 * }
 * ```
 */
export async function serve(handler: Handler): Promise<Served> {
  if (g.Deno?.serve) return serveDeno(handler);
  if (g.Bun?.serve) return serveBun(handler);
  if (g.process?.versions?.node) return await serveNode(handler);
  throw new Error("serve: this runtime has none of Deno.serve, Bun.serve or node:http");
}

function served(port: number, close: () => Promise<void>): Served {
  const origin = `http://127.0.0.1:${port}`;
  return { origin, baseURL: `${origin}/v1`, port, close };
}

function serveDeno(handler: Handler): Promise<Served> {
  const controller = new AbortController();
  const server = g.Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: () => {},
    onError: () => new Response("internal error", { status: 500 }),
  }, handler);
  return Promise.resolve(served(server.addr.port, async () => {
    controller.abort();
    await server.finished.catch(() => {});
  }));
}

function serveBun(handler: Handler): Promise<Served> {
  const server = g.Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: handler,
    idleTimeout: 0,
    error: () => new Response("internal error", { status: 500 }),
  });
  return Promise.resolve(served(server.port, async () => {
    await server.stop(true);
  }));
}

/** The parts of node:http this adapter uses (no @types/node needed to type-check it). */
interface NodeIncoming extends AsyncIterable<Uint8Array> {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
}
interface NodeOutgoing {
  writableFinished: boolean;
  on(event: "close", listener: () => void): void;
  writeHead(status: number, headers?: Record<string, string>): NodeOutgoing;
  write(chunk: Uint8Array, callback: () => void): boolean;
  end(body?: string): void;
  destroy(): void;
}
interface NodeServer {
  listen(port: number, host: string, callback: () => void): void;
  address(): { port: number };
  closeAllConnections(): void;
  close(callback: () => void): void;
}

async function serveNode(handler: Handler): Promise<Served> {
  // A variable specifier: bundlers for other runtimes must not try to resolve node:http.
  const specifier = "node:http";
  const http = await import(specifier) as {
    createServer(listener: (req: NodeIncoming, res: NodeOutgoing) => void): NodeServer;
  };
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
    let response: Response;
    try {
      const request = new Request(`http://127.0.0.1${req.url ?? "/"}`, {
        method: req.method,
        headers,
        body: hasBody ? iterableStream(req) : undefined,
        signal: controller.signal,
        // Node's fetch needs duplex for streamed request bodies.
        duplex: "half",
      } as RequestInit);
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
    res.on("close", () => void reader.cancel().catch(() => {}));
    let written: Promise<void> = Promise.resolve();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        written = new Promise((resolve) => res.write(value, () => resolve()));
      }
      res.end();
    } catch {
      // The body errored mid-stream: reset the connection once what was written is out.
      await written;
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return served(server.address().port, () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
}

function iterableStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}
