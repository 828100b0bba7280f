// Memory: peak extra heap while agent.stream() delivers a 100k-token final answer (from a
// zero-latency scripted model, one body piece per SSE event), relative to the answer's UTF-16
// size (2 bytes per code unit). Baseline: the heap after a full GC just before the run, with
// the prebuilt response bytes already allocated.
//
// Heap is sampled during streaming: every 5000 model deltas (from the agent's onEvent), when
// the reply is complete, then every 5000 chunks the consumer receives, and at the end. Each
// sample follows a full GC, so it measures live (retained) memory, not garbage that the
// collector has not reached yet. A second pass samples without forcing GC (what heapUsed shows
// naturally, garbage included), for information. Live mode is measured too, for information.
//
// Target (issue 7): peak extra live heap ≤ 4× the answer's UTF-16 size. --quick: 30k tokens.
import { Agent, type AgentEvent, LMStudioClient } from "../mod.ts";
import {
  CAN_GC,
  createReport,
  gc,
  heapUsed,
  median,
  printReport,
  progress,
  QUICK,
  summarize,
} from "./_common.ts";
import { eventPieces, finalEnvelopeDeltas, mixedTokens, scriptedFetch } from "./_data.ts";

const TOKENS = QUICK ? 30_000 : 100_000;
const RUNS = QUICK ? 1 : 5;
const EVERY = 5000;

const tokens = mixedTokens(TOKENS);
const content = tokens.join("");
const answerBytes = content.length * 2;
const pieces = eventPieces(finalEnvelopeDeltas(tokens));
const bodyBytes = pieces.reduce((n, p) => n + p.byteLength, 0);

const report = createReport(
  "memory",
  "4. Memory",
  `Peak extra heap (after GC, sampled while streaming) during agent.stream() of a ` +
    `${TOKENS / 1000}k-token answer, ÷ the answer's UTF-16 size.`,
);

interface Peak {
  peak: number;
  where: string;
}

async function run(live: boolean, forceGc: boolean): Promise<Peak> {
  const fetch = scriptedFetch(pieces);
  let deltas = 0;
  let peak = -Infinity;
  let where = "";
  let base = 0;
  const sample = (at: string) => {
    if (forceGc) gc();
    const extra = heapUsed() - base;
    if (extra > peak) {
      peak = extra;
      where = at;
    }
  };
  const onEvent = (e: AgentEvent) => {
    if (e.type === "model_delta" && ++deltas % EVERY === 0) {
      sample(`delta ${deltas}`);
    } else if (e.type === "model_response") sample("reply complete");
  };
  const agent = new Agent({
    client: new LMStudioClient({
      fetch,
      model: "bench-model",
      baseURL: "http://127.0.0.1:9/v1",
    }),
    live,
    onEvent,
  });
  // The chunks are counted, not kept: a consumer writing them out holds none of them.
  let chunks = 0;
  let chars = 0;
  gc();
  gc();
  base = heapUsed();
  const stream = agent.stream("Write a long answer.");
  for await (const chunk of stream) {
    chars += chunk.text.length;
    if (++chunks === 1) sample("first chunk");
    else if (chunks % EVERY === 0) sample(`chunk ${chunks}`);
  }
  sample("end of stream");
  if (chars !== content.length) {
    throw new Error(`streamed ${chars} of ${content.length} units`);
  }
  return { peak, where };
}

const rows: string[][] = [];
const ratios = new Map<string, number>();
for (
  const [name, live, forceGc] of [
    ["agent.stream(), GC before each sample", false, true],
    ["agent.stream({ live: true }), GC before each sample", true, true],
    ["agent.stream(), no forced GC (garbage included)", false, false],
  ] as const
) {
  if (forceGc && !CAN_GC) continue;
  await run(live, forceGc); // warm-up
  const peaks: Peak[] = [];
  for (let i = 0; i < RUNS; i++) {
    progress(`${name}: run ${i + 1}/${RUNS}`);
    peaks.push(await run(live, forceGc));
  }
  const s = summarize(peaks.map((p) => p.peak));
  const r = summarize(peaks.map((p) => p.peak / answerBytes));
  const where = peaks.find((p) => p.peak === median(peaks.map((q) => q.peak)))?.where ??
    peaks[0]!.where;
  ratios.set(name, r.median);
  rows.push([
    name,
    `${(s.median / 1e6).toFixed(2)} MB`,
    `${(s.min / 1e6).toFixed(2)}–${(s.max / 1e6).toFixed(2)}`,
    `${r.median.toFixed(2)}× (${r.min.toFixed(2)}–${r.max.toFixed(2)})`,
    where,
  ]);
}

report.tables.push({
  id: "peak",
  title: `${TOKENS / 1000}k-token answer: ${(answerBytes / 1e6).toFixed(2)} MB as UTF-16 ` +
    `(${content.length} units); SSE body ${(bodyBytes / 1e6).toFixed(1)} MB; ${RUNS} runs`,
  columns: [
    "run",
    "peak extra heap",
    "min–max MB",
    "÷ answer UTF-16",
    "peak at (median run)",
  ],
  rows,
});
const gated = ratios.get("agent.stream(), GC before each sample");
if (gated !== undefined) {
  report.targets.push({
    id: "peak",
    name: "peak extra live heap ≤ 4× the answer's UTF-16 size",
    measured: `${gated.toFixed(2)}×`,
    pass: gated <= 4,
  });
} else {
  report.notes.push(
    "no GC exposed: the live-heap target could not be measured",
  );
}

printReport(report);
