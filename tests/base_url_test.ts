// Base URL hygiene: credentials, query strings and fragments are refused at construction
// (credentials without repeating them); an error caused by LMSTUDIO_BASE_URL names the variable,
// quotes its value and suggests a fix; a base URL without /v1 fails against LM Studio (and the
// kit) with HTTP 200 "Unexpected endpoint", which generate(), stream() and models() explain;
// Deno without --allow-env says once, in the ConnectionError, why the default URL was used;
// HTML error pages become a short excerpt in the message, the whole page on the error.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { APIError, ConnectionError, LMStudioClient } from "../mod.ts";
import { UnsupportedEndpointError } from "../src/errors.ts";
import { createFakeLMStudio } from "../testing.ts";
import { serve } from "./_kit/serve.ts";

const USER = [{ role: "user" as const, content: "hi" }];
// deno-lint-ignore no-explicit-any
const g = globalThis as any;

function withEnv<T>(name: string, value: string | undefined, fn: () => T): T {
  const get = () => g.Deno ? g.Deno.env.get(name) : g.process.env[name];
  const set = (v: string | undefined) => {
    if (g.Deno) v === undefined ? g.Deno.env.delete(name) : g.Deno.env.set(name, v);
    else if (v === undefined) delete g.process.env[name];
    else g.process.env[name] = v;
  };
  const saved = get();
  set(value);
  try {
    return fn();
  } finally {
    set(saved);
  }
}

function constructionError(fn: () => unknown): TypeError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TypeError, String(err));
    return err;
  }
  assert.fail("expected a TypeError");
}

describe("base URL hygiene", () => {
  test("credentials in the URL are refused, and the message does not repeat them", () => {
    for (
      const url of [
        "http://user:hunter2-pass@host:1234/v1",
        "https://hunter2-pass@host/v1",
        "http://user:hunter2-pass@host:99999/v1", // also an invalid port
        "user:hunter2-pass@host:1234/v1", // no scheme
      ]
    ) {
      const err = constructionError(() => new LMStudioClient({ baseURL: url }));
      const all = `${err.message} ${err.stack} ${JSON.stringify(err)} ${String(err.cause)}`;
      assert.ok(!all.includes("hunter2"), `${url}: ${all}`);
      if (url.startsWith("http") && !url.includes("99999")) {
        assert.match(err.message, /credentials/);
        assert.match(err.message, /apiKey/);
      }
    }
    const fromEnv = withEnv(
      "LMSTUDIO_BASE_URL",
      "http://me:hunter2-pass@h/v1",
      () => constructionError(() => new LMStudioClient()),
    );
    assert.match(fromEnv.message, /LMSTUDIO_BASE_URL must not contain credentials/);
    assert.ok(!fromEnv.message.includes("hunter2"));
  });

  test("a query string or fragment is refused (it would build …/v1?x=1/models)", () => {
    for (const url of ["http://h:1234/v1?x=1", "http://h:1234/v1#top", "http://h:1234/v1?"]) {
      const err = constructionError(() => new LMStudioClient({ baseURL: url }));
      assert.match(err.message, /baseURL must not have a query string or fragment/);
      assert.match(err.message, /did you mean "http:\/\/h:1234\/v1"\?/);
    }
  });

  test("LMSTUDIO_BASE_URL=localhost:1234 names the variable, quotes it, suggests the fix", () => {
    const err = withEnv(
      "LMSTUDIO_BASE_URL",
      "localhost:1234",
      () => constructionError(() => new LMStudioClient()),
    );
    assert.match(err.message, /LMSTUDIO_BASE_URL/);
    assert.match(err.message, /"localhost:1234"/);
    assert.match(err.message, /did you mean "http:\/\/localhost:1234\/v1"\?/);
    const option = constructionError(() => new LMStudioClient({ baseURL: "not a url" }));
    assert.match(option.message, /^Cannot create LMStudioClient: baseURL must be/);
    assert.match(option.message, /"not a url"/);
    // A good value is used as given, trailing slashes dropped.
    const ok = withEnv("LMSTUDIO_BASE_URL", "http://127.0.0.1:9/v1/", () => new LMStudioClient());
    assert.equal(ok.baseURL, "http://127.0.0.1:9/v1");
  });

  for (const mode of ["in-process", "socket"] as const) {
    test(`a base URL without /v1: generate(), stream() and models() say so (${mode})`, async () => {
      const fake = createFakeLMStudio({ replies: [{ content: "never" }, { content: "never" }] });
      const server = mode === "socket" ? await serve(fake.handler) : undefined;
      try {
        const options = {
          baseURL: server ? server.origin : "http://fake.test",
          ...(server ? {} : { fetch: fake.fetch }),
          maxRetries: 0,
        };
        const client = new LMStudioClient({ ...options, model: "m" });
        const stream = async () => {
          for await (const _ of client.stream({ messages: USER })) { /* drain */ }
        };
        const calls: [string, () => Promise<unknown>][] = [
          ["generate", () => client.generate({ messages: USER })],
          ["stream", stream],
          ["models", () => client.models()],
          ["resolveModel", () => new LMStudioClient(options).resolveModel()],
        ];
        for (const [name, call] of calls) {
          const err = await call().then(() => undefined, (e) => e);
          assert.ok(err instanceof UnsupportedEndpointError, `${name}: ${String(err)}`);
          assert.equal(err.status, 200, name);
          assert.match(err.serverMessage, /^Unexpected endpoint or method\. \((POST|GET) \//);
          assert.match(err.message, /the base URL probably lacks \/v1/, name);
          assert.match(err.message, /http:\/\/localhost:1234\/v1/, name);
        }
        assert.equal(fake.chatRequests.length, 0); // nothing reached the chat endpoint
      } finally {
        await server?.close();
      }
    });
  }

  test("an HTML error page: a short excerpt in the message, the whole page on the error", async () => {
    const page = `<html>\r\n<head><title>502 Bad Gateway</title>
      <style>body { width: 35em; margin: 0 auto; }</style></head>
      <body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx/1.25.3</center>\n` +
      "<!-- a padding comment -->\n".repeat(300) + "</body>\n</html>\n";
    assert.ok(page.length > 7000);
    const fetch502 = () =>
      Promise.resolve(
        new Response(page, { status: 502, headers: { "content-type": "text/html" } }),
      );
    const client = new LMStudioClient({ fetch: fetch502, model: "m", maxRetries: 0 });
    const err = await client.generate({ messages: USER }).then(() => undefined, (e) => e);
    assert.ok(err instanceof APIError && err.status === 502, String(err));
    assert.ok(err.message.length < 500, `${err.message.length}: ${err.message}`);
    assert.match(
      err.message,
      /failed with status 502: 502 Bad Gateway 502 Bad Gateway nginx\/1\.25\.3/,
    );
    assert.doesNotMatch(err.message, /[<>]|width: 35em|\s\s/);
    assert.equal(err.body, page);
    // A long JSON message is clipped in the message too; serverMessage keeps it whole.
    const long = "x".repeat(5000);
    const jsonClient = new LMStudioClient({
      fetch: () => Promise.resolve(Response.json({ error: { message: long } }, { status: 400 })),
      model: "m",
    });
    const e2 = await jsonClient.generate({ messages: USER }).then(() => undefined, (e) => e);
    assert.ok(e2 instanceof APIError);
    assert.ok(e2.message.length < 800, String(e2.message.length));
    assert.equal(e2.serverMessage, long);
  });

  test("Bun's 'access the url?' is not followed by a stray period", async () => {
    const client = new LMStudioClient({
      fetch: () =>
        Promise.reject(
          new TypeError("Unable to connect. Is the computer able to access the url?"),
        ),
      model: "m",
      maxRetries: 0,
    });
    const err = await client.models().then(() => undefined, (e) => e);
    assert.ok(err instanceof ConnectionError, String(err));
    assert.match(err.message, /access the url\? Is LM Studio's server running/);
    assert.doesNotMatch(err.message, /\?\./);
  });

  test("Deno without --allow-env: the ConnectionError to the default URL says why, once", () => {
    const deno = fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
    const root = fileURLToPath(new URL("..", import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), "no-env-"));
    try {
      const script = join(dir, "no_env.ts");
      writeFileSync(
        script,
        `import { LMStudioClient } from ${
          JSON.stringify(new URL("../mod.ts", import.meta.url).href)
        };
const fetch = () => Promise.reject(new TypeError("fetch failed"));
for (const options of [{}, { baseURL: "http://127.0.0.1:9/v1" }]) {
  const client = new LMStudioClient({ fetch, model: "m", maxRetries: 1, retryBaseDelayMs: 1, ...options });
  const err = await client.models().catch((e) => e);
  console.log(JSON.stringify({ name: err.name, message: err.message }));
}
`,
      );
      const r = spawnSync(deno, [
        "run",
        "--no-prompt",
        "--config",
        join(root, "deno.json"),
        `--allow-read=${root},${dir}`,
        script,
      ], {
        cwd: root,
        encoding: "utf8",
        env: {
          ...(g.Deno ? g.Deno.env.toObject() : g.process.env),
          NO_COLOR: "1",
          LMSTUDIO_BASE_URL: "http://elsewhere:1/v1",
        },
      });
      assert.equal(r.status, 0, r.stderr);
      const [first, second] = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(first.name, "ConnectionError");
      assert.match(first.message, /localhost:1234/);
      const hint = /LMSTUDIO_BASE_URL could not be read \(Deno denied access to the environment\)/g;
      assert.equal(first.message.match(hint)?.length, 1, first.message);
      assert.match(first.message, /--allow-env/);
      // Not said when the base URL was given.
      assert.equal(second.name, "ConnectionError");
      assert.doesNotMatch(second.message, /could not be read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
