// Runs every benchmark in bench/ on Deno, Bun and Node 24 and writes bench/RESULTS.md.
//
//   npm run bench                      everything (about half an hour on 2 cores)
//   npm run bench -- --quick           smaller inputs, fewer rounds: a couple of minutes;
//                                      writes bench/RESULTS.quick.md unless --out is given
//   node bench/run.mjs --only=node --bench=sse_decode,slicing --out=/tmp/r.md
//   node bench/run.mjs --bench=engine --merge
//                                      run some benchmarks, keep the others' last results
//   node bench/run.mjs --render        rewrite RESULTS.md from the last run's raw reports
//                                      (bench/.last-run.json), e.g. after editing NOTES.md
//
// Installs what it needs first: the project's dependencies and runtimes (scripts/setup.mjs),
// and the benchmark-only peers (openai, ai, …) from bench/package.json into bench/node_modules
// (never dependencies of the library). Plain JavaScript, so it runs on the machine's own Node
// (≥ 18). Exits non-zero if a benchmark crashed; missed targets are reported, not failures.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { root, setup, versions } from "../scripts/setup.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));

/** The measurements, in report order. */
const BENCHES = [
  "sse_decode",
  "agent_overhead",
  "slicing",
  "memory",
  "size_startup",
  "live_first_chunk",
  "engine",
];
const PEERS = [
  "openai",
  "ai",
  "@ai-sdk/openai-compatible",
  "eventsource-parser",
  "zod",
];

const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = args.includes("--quick");
const onlyRuntimes = option("only")?.split(",");
const onlyBenches = option("bench")?.split(",");
const rerender = args.includes("--render");
const merge = args.includes("--merge");
const out = option("out") ??
  join(benchDir, quick ? "RESULTS.quick.md" : "RESULTS.md");
// The raw reports of the last run, so that --render can rewrite the Markdown (e.g. after
// editing bench/NOTES.md) without measuring again.
const lastRun = join(
  benchDir,
  quick ? ".last-run.quick.json" : ".last-run.json",
);
for (const b of onlyBenches ?? []) {
  if (!BENCHES.includes(b)) {
    throw new Error(`unknown benchmark ${b}; one of ${BENCHES.join(", ")}`);
  }
}

/** Installs bench/package.json's peers into bench/node_modules when missing or stale. */
function installBenchDeps() {
  const marker = join(benchDir, "node_modules", ".bench-install-done");
  const lock = join(benchDir, "package-lock.json");
  const manifest = join(benchDir, "package.json");
  const fresh = existsSync(marker) &&
    [manifest, lock].every((f) =>
      !existsSync(f) || statSync(marker).mtimeMs >= statSync(f).mtimeMs
    );
  if (fresh) return;
  const install = existsSync(lock) ? "ci" : "install";
  console.error(`bench: npm ${install} in bench/ (benchmark-only peers)…`);
  // bench/.npmrc keeps "resolved" URLs out of the lockfile.
  const r = spawnSync("npm", [
    install,
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
  ], {
    cwd: benchDir,
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error(`bench: npm ${install} failed in bench/`);
  if (readFileSync(lock, "utf8").includes('"resolved"')) {
    throw new Error(
      "bench/package-lock.json contains resolved URLs; check bench/.npmrc",
    );
  }
  writeFileSync(marker, new Date().toISOString());
}

function peerVersions() {
  return PEERS.map((p) => {
    try {
      const pkg = JSON.parse(
        readFileSync(join(benchDir, "node_modules", p, "package.json"), "utf8"),
      );
      return `${p} ${pkg.version}`;
    } catch {
      return `${p} (missing)`;
    }
  });
}

/** Runs one benchmark file on one runtime; resolves with its parsed report (or an error). */
function runBench(runtime, cmd, file) {
  const flags = {
    deno: ["run", "-A", "--v8-flags=--expose-gc"],
    bun: [],
    node: ["--expose-gc", "--disable-warning=ExperimentalWarning"],
  }[runtime];
  const cmdArgs = [
    ...flags,
    join(benchDir, `${file}.ts`),
    ...(quick ? ["--quick"] : []),
  ];
  const started = Date.now();
  console.error(`\n=== ${file} on ${runtime}`);
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, {
      cwd: root,
      env: {
        ...process.env,
        NO_COLOR: "1",
        FORCE_COLOR: "0",
        ...(quick ? { BENCH_QUICK: "1" } : {}),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const limitMs = (quick ? 10 : 60) * 60_000;
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.stdout.on("data", (d) => {
      stdout += d;
      for (const line of String(d).split("\n")) {
        if (line && !line.startsWith("BENCH_REPORT ")) {
          process.stdout.write(`${line}\n`);
        }
      }
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      process.stderr.write(d);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const line = stdout.split("\n").find((l) => l.startsWith("BENCH_REPORT "));
      if (code === 0 && line) {
        resolve({
          report: JSON.parse(line.slice("BENCH_REPORT ".length)),
          seconds,
        });
      } else {
        const tail = stderr.trim().split("\n").slice(-6).join(" / ");
        resolve({
          error: `exit ${code ?? signal}: ${tail || "no report"}`,
          seconds,
        });
      }
    });
  });
}

const cell = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");
const mdTable = (columns, rows) =>
  [
    `| ${columns.map(cell).join(" | ")} |`,
    `| ${columns.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");

/** For a merged run: which benchmarks were measured when (UTC, to the minute). */
function mergedNote(measuredAt) {
  const byDate = new Map();
  for (const [bench, at] of Object.entries(measuredAt)) {
    const date = at.replace("T", " ").slice(0, 16);
    byDate.set(date, [...(byDate.get(date) ?? []), bench]);
  }
  if (byDate.size < 2) return "";
  const parts = [...byDate].sort().map(([date, benches]) => `${benches.join(", ")} at ${date}`);
  return ` (merged with --merge: ${parts.join("; ")})`;
}

function render(
  { results, runtimes, versionInfo, startedAt, load, seconds, measuredAt = {} },
) {
  const cpus = os.cpus();
  const lines = [];
  const names = runtimes.map(([name]) => name);
  lines.push(
    "# Benchmark results",
    "",
    `Written by \`node bench/run.mjs${quick ? " --quick" : ""}\` (\`npm run bench\`); ` +
      `${quick ? "**quick mode** (smaller inputs, fewer rounds)" : "full run"}, ` +
      `${(seconds / 60).toFixed(1)} min. Regenerate it; do not edit by hand.`,
    "",
    `- Date: ${startedAt.toISOString().replace("T", " ").slice(0, 16)} UTC${
      mergedNote(measuredAt)
    }`,
    `- Machine: ${os.type()} ${os.arch()}, ${cpus.length} cores (${
      cpus[0]?.model.trim() ?? "?"
    }), ` +
      `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM; load average at start ` +
      `${load.start.map((x) => x.toFixed(1)).join(" / ")}, at end ${
        load.end.map((x) => x.toFixed(1)).join(" / ")
      }` +
      ` (1/5/15 min${
        Math.max(load.start[0], load.end[0]) >= 1 ? "; other work shared the machine" : ""
      })`,
    `- Runtimes: ${names.map((n) => versionInfo[n]).join("; ")}`,
    `- Peers (bench/package.json, dev-only): ${peerVersions().join(", ")}`,
    "- Method: candidates interleaved in rotated order each round, warm-up rounds discarded, a " +
      "full GC before each sample (--expose-gc / Bun.gc); medians with min–max; ratios are " +
      "per-round paired ratios, median (min–max), so load spikes hit both sides of a ratio.",
    "",
  );

  // Target summary.
  const summary = [];
  let pass = 0;
  let miss = 0;
  for (const bench of BENCHES) {
    const byRuntime = results.get(bench);
    if (!byRuntime) continue;
    const ids = [];
    const names = new Map();
    for (const [, r] of byRuntime) {
      for (const t of r.report?.targets ?? []) {
        if (!names.has(t.id)) {
          ids.push(t.id);
          names.set(t.id, t.name);
        }
      }
    }
    for (const id of ids) {
      const row = [names.get(id)];
      for (const rt of runtimes.map(([n]) => n)) {
        const t = byRuntime.get(rt)?.report?.targets.find((x) => x.id === id);
        if (!t) row.push("—");
        else {
          row.push(`${t.pass ? "PASS" : "**MISS**"} ${t.measured}`);
          if (t.pass) pass++;
          else miss++;
        }
      }
      summary.push(row);
    }
  }
  lines.push(
    `## Targets (issues 7, 9 and 19): ${pass} PASS, ${miss} MISS`,
    "",
    mdTable(["target", ...names], summary),
    "",
  );

  for (const bench of BENCHES) {
    const byRuntime = results.get(bench);
    if (!byRuntime) continue;
    const first = [...byRuntime.values()].find((r) => r.report)?.report;
    lines.push(`## ${first?.title ?? bench}`, "");
    lines.push(
      `File: \`bench/${bench}.ts\`. ${first?.description ?? ""} Time per runtime: ` +
        [...byRuntime].map(([rt, r]) => `${rt} ${r.seconds.toFixed(0)} s`).join(
          ", ",
        ) + ".",
      "",
    );
    for (const [rt, r] of byRuntime) {
      if (r.error) lines.push(`**${rt}: FAILED** — ${cell(r.error)}`, "");
    }
    const tableIds = [];
    for (const [, r] of byRuntime) {
      for (const t of r.report?.tables ?? []) {
        if (!tableIds.includes(t.id)) tableIds.push(t.id);
      }
    }
    for (const id of tableIds) {
      const entries = [...byRuntime]
        .map(([rt, r]) => [rt, r.report?.tables.find((t) => t.id === id)])
        .filter(([, t]) => t);
      const [, t0] = entries[0];
      lines.push(`### ${t0.title}`, "");
      if (t0.runtimeIndependent) {
        lines.push(
          mdTable(t0.columns, t0.rows),
          "",
          "(The same on every runtime.)",
          "",
        );
      } else {
        const rows = entries.flatMap(([rt, t]) => t.rows.map((row) => [rt, ...row]));
        lines.push(mdTable(["runtime", ...t0.columns], rows), "");
      }
    }
    // A note every runtime printed is shown once, without a runtime prefix.
    const noteRuntimes = new Map();
    for (const [rt, r] of byRuntime) {
      for (const n of r.report?.notes ?? []) {
        noteRuntimes.set(n, [...(noteRuntimes.get(n) ?? []), rt]);
      }
    }
    for (const [n, rts] of noteRuntimes) {
      lines.push(
        `- ${rts.length === byRuntime.size ? "" : `${rts.join(", ")}: `}${n}`,
      );
    }
    if (noteRuntimes.size) lines.push("");
  }

  const notesFile = join(benchDir, "NOTES.md");
  if (!quick && existsSync(notesFile)) {
    lines.push(readFileSync(notesFile, "utf8").trim(), "");
  }
  return lines.join("\n");
}

async function main() {
  if (rerender) {
    const saved = JSON.parse(readFileSync(lastRun, "utf8"));
    const results = new Map(saved.results.map(([b, rs]) => [b, new Map(rs)]));
    writeFileSync(
      out,
      render({ ...saved, results, startedAt: new Date(saved.startedAt) }),
    );
    console.error(
      `bench: re-rendered ${relative(process.cwd(), out)} from the last run`,
    );
    return;
  }
  const startedAt = new Date();
  const loadStart = os.loadavg();
  const rt = setup();
  installBenchDeps();
  const versionInfo = versions();
  const runtimes = [["deno", rt.deno], ["bun", rt.bun], ["node", rt.node]]
    .filter(([name]) => !onlyRuntimes || onlyRuntimes.includes(name));
  const benches = BENCHES.filter((b) => !onlyBenches || onlyBenches.includes(b));
  console.error(
    `bench: ${benches.join(", ")} on ${runtimes.map(([n]) => n).join(", ")}${
      quick ? " (quick)" : ""
    }`,
  );

  const results = new Map();
  let failed = 0;
  for (const bench of benches) {
    const byRuntime = new Map();
    results.set(bench, byRuntime);
    for (const [name, cmd] of runtimes) {
      const r = await runBench(name, cmd, bench);
      if (r.error) {
        failed++;
        console.error(`bench: ${bench} on ${name} FAILED: ${r.error}`);
      }
      byRuntime.set(name, r);
    }
  }
  // When each benchmark was measured (they differ after --merge).
  const measuredAt = Object.fromEntries(
    [...results.keys()].map((b) => [b, startedAt.toISOString()]),
  );
  // --merge: the benchmarks not run this time keep their results from the last run.
  if (merge && existsSync(lastRun)) {
    const saved = JSON.parse(readFileSync(lastRun, "utf8"));
    const kept = new Map(saved.results.map(([b, rs]) => [b, new Map(rs)]));
    for (const bench of BENCHES) {
      if (!results.has(bench) && kept.has(bench)) {
        results.set(bench, kept.get(bench));
        measuredAt[bench] = saved.measuredAt?.[bench] ?? saved.startedAt;
      }
    }
    const order = new Map(BENCHES.map((b, i) => [b, i]));
    const merged = [...results].sort(([a], [b]) => order.get(a) - order.get(b));
    results.clear();
    for (const [b, rs] of merged) results.set(b, rs);
  }
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const run = {
    results,
    runtimes,
    versionInfo,
    startedAt,
    load: { start: loadStart, end: os.loadavg() },
    seconds,
    measuredAt,
  };
  writeFileSync(
    lastRun,
    JSON.stringify({
      ...run,
      results: [...results].map(([b, rs]) => [b, [...rs]]),
    }),
  );
  writeFileSync(out, render(run));
  console.error(
    `\nbench: wrote ${relative(process.cwd(), out)} in ${(seconds / 60).toFixed(1)} min`,
  );
  if (failed) {
    console.error(`bench: ${failed} benchmark run(s) failed`);
    process.exitCode = 1;
  }
}

await main();
