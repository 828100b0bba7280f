// Installs everything the project needs from npm, on a machine that has only Node (>= 18)
// and npm: the dependencies, and Deno, Bun and Node 24 as npm packages (real binaries).
// Safe to run repeatedly: it does nothing when node_modules is already up to date.
//
// Plain JavaScript on purpose: it must run on the machine's own Node, whatever its version.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);

/** Paths of the runtimes installed by setup(). */
export const runtimes = {
  deno: bin("deno"),
  bun: bin("bun"),
  node: join(root, "node_modules", "node24", "bin", "node"),
};

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...options });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function works(path) {
  if (!existsSync(path)) return false;
  const r = spawnSync(path, ["--version"], { cwd: root, encoding: "utf8", timeout: 60_000 });
  return r.status === 0;
}

/** Installs dependencies and runtimes if missing or stale. */
export function setup({ quiet = false } = {}) {
  const marker = join(root, "node_modules", ".setup-done");
  const lock = join(root, "package-lock.json");
  // Stale when the lock file (what npm installs) changed: editing scripts in package.json
  // must not trigger a reinstall.
  const stamp = createHash("sha256")
    .update(existsSync(lock) ? readFileSync(lock) : readFileSync(join(root, "package.json")))
    .digest("hex");
  const fresh = existsSync(marker) && readFileSync(marker, "utf8") === stamp &&
    Object.values(runtimes).every(existsSync);
  if (fresh) return runtimes;
  if (!quiet) console.error("setup: installing dependencies and runtimes from npm (one time)…");
  // --ignore-scripts: bun's postinstall has been seen spinning forever; we run the
  // postinstalls ourselves, each under a time limit.
  const install = existsSync(lock) ? "ci" : "install";
  if (
    run("npm", [install, "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]) !== 0
  ) {
    throw new Error(`setup: npm ${install} failed`);
  }
  for (const [pkg, script] of [["deno", "install.cjs"], ["bun", "install.js"]]) {
    const dir = join(root, "node_modules", pkg);
    if (!existsSync(join(dir, script))) continue;
    const r = spawnSync(process.execPath, [script], {
      cwd: dir,
      stdio: "inherit",
      timeout: 120_000,
    });
    if (r.status !== 0) {
      console.error(`setup: ${pkg} postinstall exited ${r.status}; checking binary`);
    }
  }
  for (const [name, path] of Object.entries(runtimes)) {
    if (!works(path)) throw new Error(`setup: ${name} is not runnable at ${path}`);
  }
  writeFileSync(marker, stamp);
  return runtimes;
}

/** `deno --version` etc., one line each. */
export function versions() {
  const line = (path, args = ["--version"]) =>
    spawnSync(path, args, { encoding: "utf8" }).stdout.split("\n")[0].trim();
  return {
    deno: line(runtimes.deno),
    bun: `bun ${line(runtimes.bun)}`,
    node: `node ${line(runtimes.node)}`,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  setup();
  console.log(JSON.stringify(versions()));
}
