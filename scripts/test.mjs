// The whole test suite: the same test files on Deno, Bun and Node 24, then the static checks
// (deno fmt --check, deno lint, deno check, deno check --doc, deno doc --lint,
// deno publish --dry-run, and the consumer project tests/consumer under tsc and deno check).
// Installs what it needs first (scripts/setup.mjs). Exits non-zero if anything fails.
//
//   npm test                       everything
//   npm test -- --only=node        one runtime, no static checks
//   npm test -- tests/agent_test.ts   some files
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { counters, exec, failureLines } from "./_runner.mjs";
import { root, setup, versions } from "./setup.mjs";

const args = process.argv.slice(2);
const only = args.find((a) => a.startsWith("--only="))?.slice(7);
const files = args.filter((a) => !a.startsWith("--"));
const testFiles = files.length ? files : readdirSync(`${root}/tests`)
  .filter((f) => f.endsWith("_test.ts"))
  .sort()
  .map((f) => `tests/${f}`);

const rt = setup();
// No FORCE_COLOR: Deno takes any value of it, "0" included, as "use colours".
const env = { ...process.env, NO_COLOR: "1" };
delete env.FORCE_COLOR;

const suites = [
  ["deno", rt.deno, ["test", "-A", "--no-check", ...testFiles]],
  ["bun", rt.bun, ["test", "--timeout", "60000", ...testFiles.map((f) => `./${f}`)]],
  ["node", rt.node, ["--test", "--test-concurrency=2", ...testFiles]],
].filter(([name]) => !only || only === name);

// bench/ imports its peers (openai, ai, …) from bench/node_modules: install them (a few
// seconds, lockfile-pinned) so the benchmarks are type-checked too.
function installBenchDeps() {
  if (existsSync(`${root}/bench/node_modules/.package-lock.json`)) return;
  const r = spawnSync("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], {
    cwd: `${root}/bench`,
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error("npm ci in bench/ failed");
}

const checks = only || files.length ? [] : [
  ["fmt", rt.deno, ["fmt", "--check"]],
  ["lint", rt.deno, ["lint"]],
  ["check", rt.deno, ["check", "mod.ts", "testing.ts", "src/", "tests/", "examples/", "bench/"]],
  // Every JSDoc @example is type-checked, imports of the public entry points included.
  ["doc examples", rt.deno, ["check", "--doc", "mod.ts", "testing.ts", "mcp.ts", "src/"]],
  ["doc", rt.deno, ["doc", "--lint", "mod.ts", "testing.ts", "mcp.ts"]],
  ["publish", rt.deno, ["publish", "--dry-run", "--allow-dirty"]],
  // A new user's Node project: tsc --strict with only @types/node, no DOM lib (issue 15).
  ["consumer tsc", rt.node, [`${root}/node_modules/typescript/bin/tsc`, "-p", "tests/consumer"]],
  ["consumer deno check", rt.deno, ["check", "tests/consumer/app.ts"]],
];

const v = versions();
console.log(`runtimes: ${v.deno} | ${v.bun} | ${v.node}`);
const summary = [];
let passed = 0;
let failed = 0;
for (const [name, cmd, cmdArgs] of suites) {
  const { code, out } = await exec(`tests on ${name}`, cmd, cmdArgs, env);
  const [p, f] = counters[name](out).map((x) => Number(x ?? 0));
  passed += p;
  failed += f;
  const ok = code === 0 && p > 0;
  if (!ok && f === 0) failed += 1; // the runner failed without counting a test failure
  summary.push(`${ok ? "ok  " : "FAIL"} ${name}: ${p} passed, ${f} failed`);
  if (!ok) summary.push(...failureLines(name, out));
}
if (checks.length) installBenchDeps();
for (const [name, cmd, cmdArgs] of checks) {
  const { code } = await exec(name, cmd, cmdArgs, env);
  if (code !== 0) failed += 1;
  summary.push(
    `${code === 0 ? "ok  " : "FAIL"} ${name.startsWith("consumer") ? "" : "deno "}${name}`,
  );
}
console.log(`\n${summary.join("\n")}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
