// Size and start-up.
//
// Size: esbuild bundle (--bundle --minify --format=esm --platform=browser), then gzip -9, of
//   the package's public entry (mod.ts) with zod external and with zod bundled, next to zod
//   alone (`import * as z from "zod"`, the import style the package uses), eventsource-parser,
//   the openai client, and the AI SDK's streamText + @ai-sdk/openai-compatible, all measured
//   the same way. The same on every runtime (esbuild's output does not depend on who calls it).
// Start-up: cold import time, in a fresh process per sample (bench/_import_probe.ts times the
//   dynamic import in-process), of mod.ts versus importing zod alone (its floor: the package
//   imports zod), and of the peers; interleaved rounds, medians.
//
// Also each entry point as a user imports part of it (issue 19): LMStudioClient alone,
//   Agent + one tool, the test kit, ./mcp.
//
// Targets (issues 7 and 19): LMStudioClient alone ≤ 6 KB and the whole core ≤ 16 KB min+gz
// without zod, ≤ 36 KB with zod; cold import no more than 30 ms above importing zod alone,
// measured as a Node user gets the package (transpiled JS, one file) and, for information,
// from the .ts sources (on Node that adds type stripping per file).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import {
  createReport,
  kb,
  ms,
  printReport,
  progress,
  QUICK,
  range,
  RUNTIME,
  summarize,
} from "./_common.ts";

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = join(benchDir, "..");

const report = createReport(
  "size_startup",
  "5. Size and start-up",
  "esbuild --minify + gzip -9 of each entry; cold import (fresh process per sample) of " +
    "mod.ts vs zod alone and the peers.",
);

// ---- size ---------------------------------------------------------------------------------

function esbuildBinary(): string[] {
  const platforms = join(root, "node_modules", "@esbuild");
  if (existsSync(platforms)) {
    for (const p of readdirSync(platforms)) {
      const bin = join(platforms, p, "bin", "esbuild");
      if (existsSync(bin)) return [bin];
    }
  }
  // The JS launcher (needs a Node on PATH).
  return ["node", join(root, "node_modules", "esbuild", "bin", "esbuild")];
}

function bundle(source: string, external: string[]): Uint8Array {
  const [cmd, ...pre] = esbuildBinary();
  const r = spawnSync(cmd!, [
    ...pre,
    "--bundle",
    "--minify",
    "--format=esm",
    "--platform=browser",
    "--target=es2022",
    "--log-level=error",
    "--loader=ts",
    // One zod: the package's own (node_modules at the root). Without this, a user entry in
    // bench/ that imports zod gets bench/node_modules' copy beside the package's, and the
    // bundle counts zod twice. (Not with zod external: the alias would turn it into a path
    // that --external:zod no longer matches.)
    ...(external.includes("zod") ? [] : [`--alias:zod=${join(root, "node_modules", "zod")}`]),
    ...external.map((e) => `--external:${e}`),
  ], { cwd: benchDir, input: source, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    throw new Error(`esbuild failed for ${source}: ${r.stderr}`);
  }
  return r.stdout;
}

// What a user who builds an agent with one tool imports.
const AGENT_AND_TOOL = 'import { Agent, defineTool } from "../mod.ts";\n' +
  'import * as z from "zod";\n' +
  'export const agent = new Agent({ tools: [defineTool({ name: "t", description: "d", ' +
  "parameters: z.object({ a: z.string() }), execute: ({ a }) => a })] });";

const entries: Array<{ name: string; source: string; external?: string[] }> = [
  {
    name: "this package (mod.ts), zod external",
    source: 'export * from "../mod.ts";',
    external: ["zod"],
  },
  {
    name: "this package (mod.ts), zod bundled",
    source: 'export * from "../mod.ts";',
  },
  {
    name: "only LMStudioClient from mod.ts, zod external",
    source: 'export { LMStudioClient } from "../mod.ts";',
    external: ["zod"],
  },
  {
    // The client reads every server body without zod, so bundling zod adds nothing.
    name: "only LMStudioClient from mod.ts, zod bundled",
    source: 'export { LMStudioClient } from "../mod.ts";',
  },
  {
    name: "entry: Agent + one tool (defineTool, z.object), zod external",
    source: AGENT_AND_TOOL,
    external: ["zod"],
  },
  {
    name: "entry: Agent + one tool (defineTool, z.object), zod bundled",
    source: AGENT_AND_TOOL,
  },
  {
    name: "entry: the test kit (testing.ts), zod external",
    source: 'export * from "../testing.ts";',
    external: ["zod"],
  },
  ...(existsSync(join(root, "mcp.ts"))
    ? [{
      name: "entry: ./mcp (mcp.ts), zod and @modelcontextprotocol/sdk external",
      source: 'export * from "../mcp.ts";',
      external: [
        "zod",
        "@modelcontextprotocol/sdk",
        "@modelcontextprotocol/sdk/*",
      ],
    }]
    : []),
  {
    name: "only sliceText from mod.ts, zod bundled",
    source: 'export { sliceText } from "../mod.ts";',
  },
  {
    name: "zod alone (import * as z)",
    source: 'import * as z from "zod";\nexport const schema = z.object({ a: z.string() });',
  },
  {
    name: "eventsource-parser (createParser)",
    source: 'export { createParser } from "eventsource-parser";',
  },
  {
    name: "openai (OpenAI client)",
    source: 'export { OpenAI } from "openai";',
  },
  {
    name: "ai (streamText) + @ai-sdk/openai-compatible",
    source: 'export { streamText } from "ai";\n' +
      'export { createOpenAICompatible } from "@ai-sdk/openai-compatible";',
  },
];

const sizes = new Map<string, number>();
const sizeRows: string[][] = [];
for (const e of entries) {
  progress(`bundling ${e.name}`);
  let min: Uint8Array;
  try {
    min = bundle(e.source, e.external ?? []);
  } catch (err) {
    // An entry point that does not build (yet) is reported, not fatal.
    sizeRows.push([
      e.name,
      "—",
      `does not build: ${String(err).slice(0, 120)}`,
    ]);
    continue;
  }
  const gz = gzipSync(min, { level: 9 }).byteLength;
  sizes.set(e.name, gz);
  sizeRows.push([e.name, kb(min.byteLength), kb(gz)]);
}
report.tables.push({
  id: "size",
  title: "Bundle size (esbuild --minify, gzip -9; 1 KB = 1000 B)",
  columns: ["entry", "minified", "min+gz"],
  rows: sizeRows,
  runtimeIndependent: true,
});
const noZod = sizes.get(entries[0]!.name)!;
const withZod = sizes.get(entries[1]!.name)!;
const clientOnly = sizes.get("only LMStudioClient from mod.ts, zod external")!;
report.targets.push({
  id: "size-client",
  name: "LMStudioClient alone min+gz ≤ 6 KB (issue 19)",
  measured: kb(clientOnly),
  pass: clientOnly <= 6000,
});
report.targets.push({
  id: "size-no-zod",
  name: "whole core (mod.ts) min+gz ≤ 16 KB without zod (issue 19; issue 7 had 6 KB)",
  measured: kb(noZod),
  pass: noZod <= 16000,
});
report.targets.push({
  id: "size-zod",
  name: "package min+gz ≤ 36 KB with zod",
  measured: kb(withZod),
  pass: withZod <= 36000,
});

// ---- cold import --------------------------------------------------------------------------

// The same code as one plain-JS file each (unminified esbuild bundles, in a temp dir): what
// Node and Bun users of a transpiled npm build load, without Node's per-file type stripping.
const jsDir = mkdtempSync(join(tmpdir(), "bench-import-"));
const jsBundle = (name: string, source: string) => {
  const file = join(jsDir, name);
  const [cmd, ...pre] = esbuildBinary();
  const r = spawnSync(cmd!, [
    ...pre,
    "--bundle",
    "--format=esm",
    "--platform=neutral",
    "--log-level=error",
    "--loader=ts",
    `--outfile=${file}`,
  ], { cwd: benchDir, input: source });
  if (r.status !== 0) {
    throw new Error(`esbuild failed for ${source}: ${r.stderr}`);
  }
  return pathToFileURL(file).href;
};
const zodJs = jsBundle("zod.mjs", 'export * from "zod";');
const modJs = jsBundle("mod.mjs", 'export * from "../mod.ts";');

const probe = join(benchDir, "_import_probe.ts");
const runtimeArgs = RUNTIME.name === "deno"
  ? ["run", "-A", probe]
  : RUNTIME.name === "node"
  ? ["--disable-warning=ExperimentalWarning", probe]
  : [probe];
const imports: Array<{ name: string; specifiers: string[] }> = [
  { name: "zod", specifiers: ["zod"] },
  {
    name: "mod.ts (this package)",
    specifiers: [pathToFileURL(join(root, "mod.ts")).href],
  },
  { name: "openai", specifiers: ["openai"] },
  {
    name: "ai + @ai-sdk/openai-compatible",
    specifiers: ["ai", "@ai-sdk/openai-compatible"],
  },
  { name: "zod as one JS file", specifiers: [zodJs] },
  { name: "mod.ts + zod as one JS file", specifiers: [modJs] },
];

function sample(specifiers: string[]): { importMs: number; wallMs: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...runtimeArgs, ...specifiers], {
    cwd: benchDir,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const wallMs = performance.now() - t0;
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !line.startsWith("{")) {
    throw new Error(
      `import probe failed (${specifiers.join(" ")}): ${r.stderr}`,
    );
  }
  return { importMs: JSON.parse(line).importMs, wallMs };
}

const [warmup, rounds] = QUICK ? [1, 4] : [2, 15];
const importTimes = new Map(imports.map((i) => [i.name, [] as number[]]));
const wallTimes = new Map(imports.map((i) => [i.name, [] as number[]]));
for (let round = 0; round < warmup + rounds; round++) {
  progress(`cold imports: round ${round + 1}/${warmup + rounds}`);
  for (let k = 0; k < imports.length; k++) {
    const i = imports[(k + round) % imports.length]!;
    const s = sample(i.specifiers);
    if (round < warmup) continue;
    importTimes.get(i.name)!.push(s.importMs);
    wallTimes.get(i.name)!.push(s.wallMs);
  }
}
rmSync(jsDir, { recursive: true, force: true });
const zodT = importTimes.get("zod")!;
const zodJsT = importTimes.get("zod as one JS file")!;
const rows = imports.map((i) => {
  const t = importTimes.get(i.name)!;
  const s = summarize(t);
  const w = summarize(wallTimes.get(i.name)!);
  // The JS bundles compare with zod's bundle, the sources with zod's own files.
  const base = i.name.endsWith("JS file") ? zodJsT : zodT;
  const delta = summarize(t.map((x, k) => x - base[k]!));
  return [
    i.name,
    ms(s.median),
    range(s),
    `${delta.median >= 0 ? "+" : ""}${ms(delta.median)}`,
    ms(w.median),
  ];
});
report.tables.push({
  id: "import",
  title: `Cold import, fresh process per sample (${rounds} rounds)`,
  columns: [
    "import",
    "import median",
    "min–max ms",
    "− zod (paired)¹",
    "process wall median",
  ],
  rows,
});
report.notes.push(
  "¹ Source imports minus importing zod from node_modules; the one-file JS bundles minus zod's " +
    "own one-file bundle (same sample round).",
);
const libDelta = summarize(
  importTimes.get("mod.ts (this package)")!.map((x, k) => x - zodT[k]!),
).median;
// As a Node user gets the package (JSR's npm layer serves transpiled JS): the one-file bundles.
const jsDelta = summarize(
  importTimes.get("mod.ts + zod as one JS file")!.map((x, k) => x - zodJsT[k]!),
).median;
report.targets.push({
  id: "import-js",
  name: "cold import of the package as transpiled JS ≤ 30 ms above zod (one JS file each)",
  measured: `${jsDelta >= 0 ? "+" : ""}${ms(jsDelta)}`,
  pass: jsDelta <= 30,
});
report.targets.push({
  id: "import",
  name: "cold import of mod.ts (.ts sources) ≤ 30 ms above importing zod alone",
  measured: `+${ms(libDelta)}`,
  pass: libDelta <= 30,
});

printReport(report);
