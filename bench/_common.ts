// Shared by every benchmark: runtime detection, forced GC, interleaved timing with warm-up,
// medians and ranges, and the report format that bench/run.mjs turns into RESULTS.md.
//
// Every measurement file prints human-readable tables and, last, one line
// `BENCH_REPORT {json}` that the runner parses. Runs on Deno, Bun and Node 24 unchanged.
import process from "node:process";

/** `--quick` (or BENCH_QUICK=1): smaller inputs and fewer rounds. */
export const QUICK: boolean = process.argv.includes("--quick") ||
  process.env.BENCH_QUICK === "1";

interface BunGlobal {
  version: string;
  gc(force: boolean): void;
}

const bun = (globalThis as { Bun?: BunGlobal }).Bun;
const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;

/** Which runtime this is, with its version. */
export const RUNTIME: { name: "deno" | "bun" | "node"; version: string } = deno
  ? { name: "deno", version: deno.version.deno }
  : bun
  ? { name: "bun", version: bun.version }
  : { name: "node", version: process.versions.node };

const v8gc = (globalThis as { gc?: () => void }).gc;

/** Whether {@link gc} can really collect (Node/Deno need --expose-gc; Bun has Bun.gc). */
export const CAN_GC: boolean = bun !== undefined || typeof v8gc === "function";

/** A full, synchronous garbage collection (no-op when the runtime does not expose one). */
export function gc(): void {
  if (bun) bun.gc(true);
  else v8gc?.();
}

/** Heap in use, in bytes (V8's or JSC's own count, not RSS). */
export function heapUsed(): number {
  return process.memoryUsage().heapUsed;
}

/** Sorted copy. */
function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** The median. */
export function median(xs: readonly number[]): number {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median, min and max of samples. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Summarizes samples. */
export function summarize(xs: readonly number[]): Summary {
  const s = sorted(xs);
  return { median: median(s), min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** A candidate: one run of the thing measured. Its return value goes to `verify`. */
export interface Candidate<T = unknown> {
  name: string;
  run: () => Promise<T> | T;
}

/** How {@link measure} runs. */
export interface MeasureOptions<T> {
  /** Measured rounds (each runs every candidate once). */
  rounds: number;
  /** Unmeasured rounds first (JIT warm-up, lazy initialization). */
  warmup: number;
  /** Called with each candidate's result in the first warm-up round; throw to reject it. */
  verify?: (name: string, result: T) => void;
  /** Called after each round (progress). */
  onRound?: (round: number) => void;
}

/**
 * Times candidates interleaved: every round runs all of them once, in a rotated order, with a
 * full GC before each sample, so load spikes and drifting clocks hit every candidate alike and
 * paired per-round ratios cancel most of the noise. Returns milliseconds per candidate, one
 * sample per measured round, in round order.
 */
export async function measure<T>(
  candidates: readonly Candidate<T>[],
  options: MeasureOptions<T>,
): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  const total = options.warmup + options.rounds;
  for (let round = 0; round < total; round++) {
    const measured = round >= options.warmup;
    for (let k = 0; k < candidates.length; k++) {
      const c = candidates[(k + round) % candidates.length]!;
      gc();
      const t0 = performance.now();
      const result = await c.run();
      const t1 = performance.now();
      if (round === 0) options.verify?.(c.name, result);
      if (measured) times.get(c.name)!.push(t1 - t0);
    }
    options.onRound?.(round);
  }
  return times;
}

/** Per-round ratios `a[i] / b[i]` (both from {@link measure}, so sampled in the same rounds). */
export function pairedRatios(
  a: readonly number[],
  b: readonly number[],
): number[] {
  return a.map((x, i) => x / b[i]!);
}

/** `12.3` → "12.3 ms", with precision by size. */
export function ms(x: number): string {
  return `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)} ms`;
}

/** Range of a summary, in the summary's unit: "11.2–13.4". */
export function range(
  s: Summary,
  digits = s.max >= 100 ? 0 : s.max >= 10 ? 1 : 2,
): string {
  return `${s.min.toFixed(digits)}–${s.max.toFixed(digits)}`;
}

/** A ratio with its range: "1.23× (1.10–1.40)". */
export function ratio(s: Summary): string {
  return `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
}

/** Bytes as "12.3 KB" (1 KB = 1000 B, as bundle sizes are usually quoted). */
export function kb(bytes: number): string {
  return `${(bytes / 1000).toFixed(1)} KB`;
}

/** One table of a report; the runner merges same-id tables of every runtime. */
export interface Table {
  id: string;
  title: string;
  columns: string[];
  rows: string[][];
  /** Same values on every runtime (e.g. bundle sizes): printed once. */
  runtimeIndependent?: boolean;
}

/** One target of the issue, checked on this runtime. */
export interface Target {
  id: string;
  /** What is checked, e.g. "client.stream() ≤ 1.0× lower bound A (10k, 1 KiB)". */
  name: string;
  /** The measured value, e.g. "0.93×". */
  measured: string;
  pass: boolean;
}

/** What a measurement file prints for the runner. */
export interface Report {
  bench: string;
  title: string;
  /** What is measured and against which baseline (the header comment, in short). */
  description: string;
  runtime: string;
  quick: boolean;
  tables: Table[];
  targets: Target[];
  notes: string[];
}

/** Starts a report for this runtime. */
export function createReport(
  bench: string,
  title: string,
  description: string,
): Report {
  return {
    bench,
    title,
    description,
    runtime: `${RUNTIME.name} ${RUNTIME.version}`,
    quick: QUICK,
    tables: [],
    targets: [],
    notes: CAN_GC ? [] : ["GC not exposed: samples include garbage from earlier candidates"],
  };
}

/** Prints the tables for a human, then the machine-readable line for the runner. */
export function printReport(report: Report): void {
  console.log(
    `\n# ${report.title} — ${report.runtime}${report.quick ? " (quick)" : ""}`,
  );
  for (const t of report.tables) {
    console.log(`\n## ${t.title}`);
    const widths = t.columns.map((c, i) =>
      Math.max(c.length, ...t.rows.map((r) => (r[i] ?? "").length))
    );
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
    console.log(line(t.columns));
    for (const r of t.rows) console.log(line(r));
  }
  if (report.targets.length) {
    console.log("\n## Targets");
    for (const t of report.targets) {
      console.log(`${t.pass ? "PASS" : "MISS"}  ${t.name}: ${t.measured}`);
    }
  }
  for (const n of report.notes) console.log(`note: ${n}`);
  console.log(`BENCH_REPORT ${JSON.stringify(report)}`);
}

/** Logs progress to stderr (the runner shows it; stdout stays parseable). */
export function progress(message: string): void {
  process.stderr.write(`[${RUNTIME.name}] ${message}\n`);
}
