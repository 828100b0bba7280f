// The integration suite: tests/integration/*_test.ts against a real OpenAI-compatible server
// (llama.cpp's llama-server with a tiny model, built by ../shared/real-server/llama-server.sh),
// on Deno, Bun and Node 24.
//
//   1. build llama-server (cached under $HOME/.cache; the first build takes ~25 min on 2 cores);
//   2. start it on a free loopback port, run every integration file on the three runtimes;
//   3. restart it with an API key (PEER_API_KEY) and run the key tests (auth_test.ts) again;
//   4. restart it with a 512-token window (-c 768) and run the context-budget tests;
//   5. stop it by its pid, whatever happened.
//
// Prints "N passed, N failed" last; exits non-zero on any failure.
//
// Plain JavaScript on purpose (Node >= 18), like scripts/test.mjs. The server helpers are
// exported for scripts/capture_fixtures.mjs.
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { counters, exec, failureLines } from "./_runner.mjs";
import { root, setup, versions } from "./setup.mjs";

/** llama-server.sh: `<repo>/../shared/real-server/` (CI's layout), else /work/shared/…. */
export const serverScript = [
  resolve(root, "..", "shared", "real-server", "llama-server.sh"),
  "/work/shared/real-server/llama-server.sh",
].find(existsSync);

/** Where the script caches the build and the model (and where the build log lands). */
export const peerHome = process.env.PEER_HOME || join(homedir(), ".cache", "llama-server-peer");
const buildLog = join(peerHome, "llama.cpp", "build", "peer-build.log");

function script(args, env = {}, stdio = "inherit") {
  return spawnSync("bash", [serverScript, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio,
    encoding: "utf8",
  });
}

/** Builds llama-server and the tiny model (a no-op once cached). Exits on failure. */
export function buildServer() {
  if (!serverScript) {
    console.error("integration: llama-server.sh not found (expected ../shared/real-server/)");
    process.exit(1);
  }
  const t0 = Date.now();
  const r = script(["build"]);
  if (r.status !== 0) {
    console.error(`integration: building llama-server failed (exit ${r.status})`);
    if (existsSync(buildLog)) {
      const lines = readFileSync(buildLog, "utf8").trimEnd().split("\n");
      console.error(`--- last 60 lines of ${buildLog}:\n${lines.slice(-60).join("\n")}`);
    }
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
  console.log(`integration: llama-server ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/** A port nothing listens on right now (the kernel picks it). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts llama-server on a free loopback port and returns its environment
 * (`LMSTUDIO_BASE_URL`, `LMSTUDIO_MODEL`, `LMSTUDIO_API_KEY` with a key) and `stop()`.
 *
 * The script keeps one pid file per PEER_HOME, and `start` reuses a server that is already
 * running there (on whatever port) — a developer's own, or another run's. So each start gets
 * a private PEER_HOME whose llama.cpp/ and models/ link to the shared cache: the server is
 * ours alone, and `stop` stops exactly its pid.
 */
export async function startServer({ apiKey, serverArgs = [] } = {}) {
  const home = mkdtempSync(join(tmpdir(), "llama-peer-run-"));
  for (const dir of ["llama.cpp", "models"]) symlinkSync(join(peerHome, dir), join(home, dir));
  mkdirSync(join(home, "run"));
  const env = { PEER_HOME: home, PEER_API_KEY: apiKey ?? "" };
  let started = false;
  for (let attempt = 0; attempt < 3 && !started; attempt++) {
    const port = await freePort(); // may be taken between here and bind: then try another
    const extra = serverArgs.length ? ["--", ...serverArgs] : [];
    started = script(["start", String(port), ...extra], env).status === 0;
  }
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.off("exit", stop);
    const pid = readPid(home);
    const r = script(["stop"], env, "pipe");
    if (r.status !== 0) process.stderr.write(r.stderr);
    else console.log(`integration: llama-server stopped (pid ${pid ?? "?"})`);
    rmSync(home, { recursive: true, force: true });
  };
  // Whatever ends this process (an uncaught error, Ctrl-C, process.exit), the server stops:
  // "exit" listeners run synchronously, and stop() is synchronous.
  process.on("exit", stop);
  exitOnSignals();
  if (!started) {
    stop();
    throw new Error("llama-server did not start (see the log above)");
  }
  const out = script(["env"], env, "pipe").stdout;
  // `eval "$(llama-server.sh env)"`, without a shell: KEY=VALUE lines.
  const vars = Object.fromEntries(
    out.split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
  return { env: vars, pid: readPid(home), stop };
}

let signalsHandled = false;

/**
 * Ctrl-C / SIGTERM exit through process.exit, so that the "exit" listeners run. The listener
 * stays installed: `timeout` and terminals signal the whole process group, so a second signal
 * can arrive while stop() runs, and with no listener left it would kill us mid-stop.
 */
function exitOnSignals() {
  if (signalsHandled) return;
  signalsHandled = true;
  let exiting = false;
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      if (exiting) return;
      exiting = true;
      process.exit(130);
    });
  }
}

function readPid(home) {
  try {
    return readFileSync(join(home, "run", "llama-server.pid"), "utf8").trim();
  } catch {
    return undefined;
  }
}

// ---- the runner ----

/** The integration files on the three runtimes, one after the other (one server, 2 slots). */
async function runSuites(rt, files, serverEnv, tag, summary) {
  const env = { ...process.env, NO_COLOR: "1", ...serverEnv };
  delete env.FORCE_COLOR; // Deno takes any value, "0" included, as "use colours"
  if (!serverEnv.LMSTUDIO_API_KEY) delete env.LMSTUDIO_API_KEY;
  const suites = [
    ["deno", rt.deno, ["test", "-A", "--no-check", ...files]],
    ["bun", rt.bun, ["test", "--timeout", "240000", ...files.map((f) => `./${f}`)]],
    ["node", rt.node, ["--test", "--test-concurrency=1", "--test-timeout=240000", ...files]],
  ];
  let passed = 0;
  let failed = 0;
  for (const [name, cmd, args] of suites) {
    const t0 = Date.now();
    const { code, out } = await exec(`${tag} on ${name}`, cmd, args, env);
    const [p, f] = counters[name](out).map((x) => Number(x ?? 0));
    passed += p;
    failed += f;
    const ok = code === 0 && p > 0;
    if (!ok && f === 0) failed += 1; // the runner failed without counting a test failure
    const s = ((Date.now() - t0) / 1000).toFixed(1);
    summary.push(`${ok ? "ok  " : "FAIL"} ${tag} on ${name}: ${p} passed, ${f} failed (${s} s)`);
    if (!ok) summary.push(...failureLines(name, out));
  }
  return { passed, failed };
}

// One compute thread instead of the script's two. The model is tiny, so threads only add
// synchronisation, and on a CPU shared with anything else (CI neighbours, the test runtimes
// themselves) two threads spin at every barrier: measured on 2 cores with two busy
// processes beside it, 32 → 10 ms per token plain and 132 → 56 ms with a json_schema grammar
// (idle: 3.2 → 2.7 and 15 → 12 ms). llama-server takes the last -t given.
export const SERVER_ARGS = ["-t", "1"];

async function main() {
  const t0 = Date.now();
  const rt = setup();
  buildServer();
  const v = versions();
  console.log(`runtimes: ${v.deno} | ${v.bun} | ${v.node}`);
  const CONTEXT_FILE = "tests/integration/context_window_test.ts";
  const files = readdirSync(join(root, "tests", "integration"))
    .filter((f) => f.endsWith("_test.ts"))
    .sort()
    .map((f) => `tests/integration/${f}`)
    .filter((f) => f !== CONTEXT_FILE);
  const summary = [];
  let passed = 0;
  let failed = 0;
  const passes = [
    { tag: "integration", files, apiKey: undefined },
    // The key tests need a server that requires a key.
    {
      tag: "integration with an API key",
      files: ["tests/integration/auth_test.ts"],
      apiKey: `peer-${Date.now()}`,
    },
    // The context budget needs a small window: `-c 768` serves 512 tokens a slot.
    {
      tag: "integration with a 512-token window",
      files: [CONTEXT_FILE],
      serverArgs: ["-c", "768"],
      env: { PEER_CONTEXT: "512" },
    },
  ];
  for (const pass of passes) {
    let server;
    try {
      server = await startServer({
        apiKey: pass.apiKey,
        serverArgs: [...SERVER_ARGS, ...(pass.serverArgs ?? [])],
      });
      console.log(`integration: llama-server pid ${server.pid}, ${server.env.LMSTUDIO_BASE_URL}`);
      const serverEnv = { ...server.env, ...pass.env };
      const r = await runSuites(rt, pass.files, serverEnv, pass.tag, summary);
      passed += r.passed;
      failed += r.failed;
    } catch (err) {
      console.error(`integration: ${err.message}`);
      summary.push(`FAIL ${pass.tag}: ${err.message}`);
      failed += 1;
    } finally {
      server?.stop();
    }
  }
  console.log(`\n${summary.join("\n")}`);
  console.log(`integration: ${((Date.now() - t0) / 1000).toFixed(1)} s in all`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
