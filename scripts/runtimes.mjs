// "One module, every runtime": runs the end-to-end smoke (tests/runtime/smoke.ts: an agent
// streams an answer that needs a tool call, against the fake LM Studio on a loopback port)
// in Deno, Bun, Node 24, Node 22, Vercel's edge-runtime, workerd (through miniflare) and
// headless Chromium; and the MCP entry point's Streamable HTTP path (tests/runtime/mcp_smoke.ts,
// against @modelcontextprotocol/server-everything on a loopback port) in edge-runtime and
// workerd. Installs what it needs (tests/runtime/package.json; Chromium is
// Debian's `chromium`, installed by .ci/run). Prints `N passed, N failed`; exits non-zero on
// any failure. A runtime that cannot start here fails loudly: nothing is silently skipped.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { root, setup } from "./setup.mjs";

const rt = setup();
const smokeDir = join(root, "tests", "runtime");
const buildDir = join(smokeDir, ".build");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function installSmokeDeps() {
  const marker = join(smokeDir, "node_modules", ".installed");
  if (existsSync(marker)) return;
  const r = spawnSync("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], {
    cwd: smokeDir,
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error("npm ci in tests/runtime failed");
  writeFileSync(marker, "");
}

async function bundle() {
  const esbuild = await import(
    pathToFileURL(join(root, "node_modules", "esbuild", "lib", "main.js"))
  );
  mkdirSync(buildDir, { recursive: true });
  const common = {
    entryPoints: [join(smokeDir, "smoke.ts")],
    bundle: true,
    platform: "browser",
    target: "es2022",
    logLevel: "warning",
  };
  await esbuild.build({
    ...common,
    format: "iife",
    globalName: "Smoke",
    outfile: join(buildDir, "smoke.iife.js"),
  });
  await esbuild.build({ ...common, format: "esm", outfile: join(buildDir, "smoke.esm.js") });
  // The MCP smoke: connectMCP over Streamable HTTP. The stdio transport is imported only on
  // demand (it needs node:child_process): an edge bundle replaces it with a stub, as a user's
  // bundler config would (workerd refuses a bundle that still imports anything).
  const noStdio = {
    name: "no-stdio",
    setup(build) {
      build.onResolve(
        { filter: /client\/stdio\.js$/ },
        () => ({ path: "stdio", namespace: "stub" }),
      );
      build.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
        contents: "export class StdioClientTransport { constructor() { " +
          "throw new Error('MCP over stdio is not available in this runtime'); } }",
        loader: "js",
      }));
    },
  };
  const mcp = { ...common, entryPoints: [join(smokeDir, "mcp_smoke.ts")], plugins: [noStdio] };
  await esbuild.build({
    ...mcp,
    format: "iife",
    globalName: "McpSmoke",
    outfile: join(buildDir, "mcp_smoke.iife.js"),
  });
  await esbuild.build({ ...mcp, format: "esm", outfile: join(buildDir, "mcp_smoke.esm.js") });
  await esbuild.build({
    ...common,
    stdin: {
      contents: `import { runSmoke } from "./smoke.ts";
runSmoke(location.origin + "/v1").then((r) => { window.smokeResult = r; }, (e) => { window.smokeResult = "error: " + (e && e.stack || e); });`,
      resolveDir: smokeDir,
      loader: "ts",
    },
    entryPoints: undefined,
    format: "esm",
    outfile: join(buildDir, "smoke.browser.js"),
  });
}

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(rt.node, [join(smokeDir, "fake_server.ts")], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on("exit", (code) => reject(new Error(`fake server exited (${code})`)));
  });
}

/** server-everything in Streamable HTTP mode on a free loopback port (path /mcp). */
async function startMcpServer() {
  const { createServer } = await import("node:net");
  const port = await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
  const script = join(
    root,
    "node_modules",
    "@modelcontextprotocol",
    "server-everything",
    "dist",
    "index.js",
  );
  const child = spawn(rt.node, [script, "streamableHttp"], {
    cwd: root,
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  await new Promise((resolve, reject) => {
    let log = "";
    child.stderr.on("data", (d) => {
      log += d;
      if (log.includes("listening on port")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`MCP server exited (${code}): ${log}`)));
  });
  return { child, url: `http://127.0.0.1:${port}/mcp` };
}

/** A bundle's ESM as a workerd module whose fetch answers with `call`'s result. */
function workerScript(file, call) {
  const worker = `${readFileSync(join(buildDir, file), "utf8")}
export default { async fetch() {
  try { return new Response(await ${call}); }
  catch (e) { return new Response(String(e && e.stack || e), { status: 500 }); }
} };`;
  // The ESM bundle exports its function; the worker wraps it.
  return worker.replace(/export\s*\{[^}]*\};?\s*(?=\nexport default)/, "");
}

async function inWorkerd(script) {
  const { Miniflare } = await import(
    pathToFileURL(join(smokeDir, "node_modules", "miniflare", "dist", "src", "index.js"))
  );
  const mf = new Miniflare({ modules: true, script, compatibilityDate: "2025-06-01" });
  try {
    const res = await mf.dispatchFetch("http://smoke.local/");
    const text = await res.text();
    if (res.status !== 200) throw new Error(text);
    return text;
  } finally {
    await mf.dispose();
  }
}

async function inEdgeRuntime(file, call) {
  const { EdgeRuntime } = await import(
    pathToFileURL(join(smokeDir, "node_modules", "edge-runtime", "dist", "index.js"))
  );
  const runtime = new EdgeRuntime({ initialCode: readFileSync(join(buildDir, file), "utf8") });
  return await runtime.evaluate(call);
}

function runCli(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on(
      "close",
      (
        code,
      ) => (code === 0 ? resolve(out.trim()) : reject(new Error(out.trim() || `exit ${code}`))),
    );
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((
      _,
      reject,
    ) => (timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

const { readFileSync } = await import("node:fs");
const runners = {
  deno: (base) => runCli(rt.deno, ["run", "-A", "tests/runtime/smoke_cli.ts", base]),
  bun: (base) => runCli(rt.bun, ["run", "tests/runtime/smoke_cli.ts", base]),
  "node 24": (base) => runCli(rt.node, ["tests/runtime/smoke_cli.ts", base]),
  "node 22": (base) =>
    runCli(join(smokeDir, "node_modules", "node22", "bin", "node"), [
      "tests/runtime/smoke_cli.ts",
      base,
    ]),
  "edge-runtime": (base) =>
    inEdgeRuntime("smoke.iife.js", `Smoke.runSmoke(${JSON.stringify(base)})`),
  "workerd (miniflare)": (base) =>
    inWorkerd(workerScript("smoke.esm.js", `runSmoke(${JSON.stringify(base)})`)),
  "edge-runtime: MCP over HTTP": (base) =>
    inEdgeRuntime(
      "mcp_smoke.iife.js",
      `McpSmoke.runMcpSmoke(${JSON.stringify(mcpURL)}, ${JSON.stringify(base)})`,
    ),
  "workerd (miniflare): MCP over HTTP": (base) =>
    inWorkerd(
      workerScript(
        "mcp_smoke.esm.js",
        `runMcpSmoke(${JSON.stringify(mcpURL)}, ${JSON.stringify(base)})`,
      ),
    ),
  chromium: async (_base, port) => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM} (install Debian's chromium package)`);
    }
    const puppeteer = (await import(
      pathToFileURL(
        join(smokeDir, "node_modules", "puppeteer-core", "lib", "puppeteer", "puppeteer-core.js"),
      )
    )).default;
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/smoke.html`);
      await page.waitForFunction(() => globalThis.smokeResult !== undefined, { timeout: 30_000 });
      const result = await page.evaluate(() => globalThis.smokeResult);
      if (!String(result).startsWith("ok")) throw new Error(String(result));
      return String(result);
    } finally {
      await browser.close();
    }
  },
};

installSmokeDeps();
await bundle();
const { child, port } = await startServer();
const mcpServer = await startMcpServer();
const mcpURL = mcpServer.url;
const base = `http://127.0.0.1:${port}/v1`;
let passed = 0;
let failed = 0;
try {
  const only = process.argv.slice(2);
  for (const [name, run] of Object.entries(runners)) {
    if (only.length && !only.some((o) => name.startsWith(o))) continue;
    const t0 = Date.now();
    try {
      const out = await withTimeout(run(base, port), 90_000, name);
      passed++;
      console.log(`PASS ${name} (${Date.now() - t0} ms): ${String(out).split("\n").pop()}`);
    } catch (err) {
      failed++;
      console.log(
        `FAIL ${name} (${Date.now() - t0} ms): ${err instanceof Error ? err.message : err}`,
      );
    }
  }
} finally {
  child.kill();
  mcpServer.child.kill();
}
console.log(`runtimes: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
