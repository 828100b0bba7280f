// The library against the real engine: llama.cpp's llama-server with the tiny model
// (../shared/real-server/llama-server.sh), started on a free loopback port with a private
// PEER_HOME by scripts/integration.mjs's startServer() and stopped by pid. Skips cleanly (a
// report with a note, no targets) when the server is not built.
//
// Measured, from the server's own `timings` in the last SSE chunk of every call (read as the
// body passes to the client: the client aborts its request once the stream is done, so a tee
// would be cut off):
//   wall ÷ compute     an agent run's wall time ÷ Σ(prompt_ms + predicted_ms) of its calls,
//                      for multi-step runs (every step a tool call: the envelope grammar is
//                      narrowed to its tool-call branches), HTTP included
//   prompt reuse       prompt tokens evaluated over a 10-step run ÷ the final prompt
//                      (evaluated + reused at the last call); append-only history = 1.00.
//                      Also with compaction: a second server with `-c 768` (512-token window)
//   live first chunk   live mode (chunking "grapheme", final forced): time from the arrival of
//                      the body bytes holding the answer's first content token to the first
//                      StreamChunk
//   concurrency        4 and 16 agents at once against `-np 4`: throughput and the same ratios
//                      (under 16 agents the wall includes waiting for a free slot)
//
// Targets (issue 19): wall ÷ compute ≤ 1.03; prompt reuse ≤ 1.05 without compaction; live
// first chunk ≤ 5 ms.
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import { Agent, type AgentEvent, defineTool, LMStudioClient } from "../mod.ts";
import { buildResponseFormat } from "../src/protocols/_response_format.ts";
import { describeTools } from "../src/tool_schema.ts";
import { peerHome, SERVER_ARGS, serverScript, startServer } from "../scripts/integration.mjs";
import { createReport, median, ms, printReport, progress, QUICK, summarize } from "./_common.ts";

const report = createReport(
  "engine",
  "7. Against the real engine (llama.cpp)",
  "llama-server with the tiny model on loopback; ratios to the server's own timings " +
    "(prompt_ms + predicted_ms, prompt_n / cache_n) from the last SSE chunk of every call.",
);

interface Timings {
  prompt_n: number;
  prompt_ms: number;
  predicted_n: number;
  predicted_ms: number;
  cache_n: number;
}

/** One chat call as the recording fetch saw it. */
interface Call {
  timings?: Timings;
  /** performance.now() when the bytes holding the answer's first content character arrived. */
  firstContentAt?: number;
}

const TIMINGS = /"timings":(\{[^}]*\})/;
const FIRST_CONTENT = /"content"\s*:\s*"[^"]/;

/**
 * The real fetch, recording each chat call's timings; with `watchContent`, also when the
 * model's first answer character (after `"content":"` in the envelope) passed by.
 */
function recordingFetch(calls: Call[], watchContent = false): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await fetch(input, init);
    if (!String(input).endsWith("/chat/completions") || !response.body) {
      return response;
    }
    const call: Call = {};
    calls.push(call);
    const decoder = new TextDecoder();
    let tail = "";
    let model = "";
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          const at = performance.now();
          const text = tail + decoder.decode(chunk, { stream: true });
          if (watchContent && call.firstContentAt === undefined) {
            const end = text.lastIndexOf("\n");
            for (const line of text.slice(0, end + 1).split("\n")) {
              if (!line.startsWith("data: {")) continue;
              model += JSON.parse(line.slice(6)).choices?.[0]?.delta?.content ??
                "";
            }
            if (FIRST_CONTENT.test(model)) call.firstContentAt = at;
          }
          const found = text.includes('"timings"') ? text.match(TIMINGS) : null;
          if (found) call.timings = JSON.parse(found[1]!) as Timings;
          // Keep the unfinished last line (a chunk may cut `"timings":{…}` or a data line).
          tail = found ? "" : text.slice(text.lastIndexOf("\n") + 1);
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(body, response);
  }) as typeof fetch;
}

const page = defineTool({
  name: "page",
  description: "Return one page of the book.",
  parameters: z.object({ number: z.number() }),
  execute: ({ number }) =>
    `Page ${number}: ${"lorem ipsum dolor sit amet, consectetur. ".repeat(4)}`,
});

/** The envelope's response_format with only some of its branches (0: final, 1…: tool calls). */
function narrowed(which: "calls" | "final") {
  const format = buildResponseFormat(describeTools([page]));
  if (format.type !== "json_schema") {
    throw new Error("expected a json_schema format");
  }
  const anyOf = (format.json_schema.schema as { anyOf: unknown[] }).anyOf;
  const branches = which === "calls" ? anyOf.slice(1) : anyOf.slice(0, 1);
  return {
    ...format,
    json_schema: { ...format.json_schema, schema: { anyOf: branches } },
  };
}

interface RunStats {
  wallMs: number;
  computeMs: number;
  calls: Call[];
  compactions: number;
  /** Requests sent again after the connection failed before the reply began. */
  retries: number;
}

/** One forced multi-step run (every step a tool call) against `baseURL`. */
async function toolRun(
  baseURL: string,
  steps: number,
  seed: number,
): Promise<RunStats> {
  const calls: Call[] = [];
  let compactions = 0;
  let retries = 0;
  const agent = new Agent({
    client: new LMStudioClient({
      baseURL,
      fetch: recordingFetch(calls),
      // Bun sometimes reuses a pooled socket llama-server has closed (ECONNRESET before the
      // reply began); the client then sends the request again, as it would for a user. Counted.
      maxRetries: 2,
    }),
    tools: [page],
    maxSteps: steps,
    params: {
      temperature: 0,
      seed,
      max_tokens: 48,
      extra: { response_format: narrowed("calls") },
    },
    onEvent: (e: AgentEvent) => {
      if (e.type === "context_compacted") compactions++;
      if (e.type === "model_retry") retries++;
    },
  });
  const t0 = performance.now();
  await agent.run(`Read the pages one by one (run ${seed}).`);
  const wallMs = performance.now() - t0;
  if (calls.some((c) => !c.timings)) throw new Error("a call had no timings");
  const computeMs = calls.reduce(
    (n, c) => n + c.timings!.prompt_ms + c.timings!.predicted_ms,
    0,
  );
  return { wallMs, computeMs, calls, compactions, retries };
}

/**
 * Tokens evaluated over the run ÷ the final prompt. The first call's reused tokens count as
 * evaluated (an earlier run cached the same system prompt; a cold start would evaluate them).
 */
function reuseRatio(calls: readonly Call[]): number {
  const t = calls.map((c) => c.timings!);
  const evaluated = t[0]!.cache_n + t.reduce((n, x) => n + x.prompt_n, 0);
  const last = t.at(-1)!;
  return evaluated / (last.prompt_n + last.cache_n);
}

const fmt = (x: number) => `${x.toFixed(3)}×`;
const rangeOf = (xs: number[], digits = 3) => {
  const s = summarize(xs);
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
};

/** startServer() as typed here (its JS default `serverArgs = []` infers as `never[]`). */
const start = startServer as unknown as (
  options: { serverArgs: string[] },
) => Promise<{
  env: Record<string, string>;
  stop(): void;
}>;

async function withServer<T>(
  args: string[],
  body: (baseURL: string) => Promise<T>,
): Promise<T> {
  const server = await start({ serverArgs: [...SERVER_ARGS, ...args] });
  try {
    const baseURL = server.env.LMSTUDIO_BASE_URL!;
    // Warm-up: the first request loads what the server loads lazily.
    await toolRun(baseURL, 1, 0);
    return await body(baseURL);
  } finally {
    server.stop();
  }
}

const built = serverScript !== undefined &&
  existsSync(join(peerHome, "llama.cpp", "build", "bin", "llama-server")) &&
  existsSync(join(peerHome, "models", "tiny.gguf"));

if (!built) {
  report.notes.push(
    "skipped: llama-server is not built (bash ../shared/real-server/llama-server.sh build)",
  );
} else {
  const RUNS = QUICK ? 3 : 8;
  const STEPS = 5;

  await withServer([], async (baseURL) => {
    // 1. Sequential multi-step runs: wall ÷ compute.
    const ratios: number[] = [];
    const walls: number[] = [];
    let retries = 0;
    for (let r = 0; r < RUNS; r++) {
      progress(`sequential run ${r + 1}/${RUNS}`);
      const s = await toolRun(baseURL, STEPS, r + 1);
      ratios.push(s.wallMs / s.computeMs);
      walls.push(s.wallMs);
      retries += s.retries;
    }
    // 2. Prompt reuse over a 10-step run, no compaction.
    progress("10-step run");
    const ten = await toolRun(baseURL, 10, 100);
    const reuse = reuseRatio(ten.calls);
    // 3. Live mode: engine's first content token → first chunk.
    const gaps: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      progress(`live run ${r + 1}/${RUNS}`);
      const calls: Call[] = [];
      const agent = new Agent({
        client: new LMStudioClient({
          baseURL,
          fetch: recordingFetch(calls, true),
          maxRetries: 0,
        }),
        tools: [page],
        live: true,
        chunking: "grapheme",
        params: {
          temperature: 0,
          seed: 200 + r,
          max_tokens: 32,
          extra: { response_format: narrowed("final") },
        },
      });
      let first: number | undefined;
      for await (const _ of agent.stream("Say something.")) {
        first ??= performance.now();
      }
      const at = calls[0]?.firstContentAt;
      if (first !== undefined && at !== undefined) gaps.push(first - at);
    }
    report.tables.push({
      id: "sequential",
      title: `Sequential agent runs, default server (-c 16384 -np 2 -t 1), ${RUNS} runs`,
      columns: ["measure", "median (min–max)"],
      rows: [
        [`${STEPS}-step run wall ÷ server compute`, rangeOf(ratios)],
        [`${STEPS}-step run wall`, `${ms(median(walls))}`],
        [
          `requests sent again (connection reset before the reply)`,
          String(retries),
        ],
        [
          `10-step run: prompt tokens evaluated ÷ final prompt (${ten.calls.length} calls, ` +
          `${ten.compactions} compactions)`,
          fmt(reuse),
        ],
        [
          `live: first content token → first chunk (${gaps.length} runs)`,
          gaps.length ? `${rangeOf(gaps, 2)} ms` : "—",
        ],
      ],
    });
    report.targets.push({
      id: "wall-compute",
      name: `agent run wall ÷ server compute ≤ 1.03 (${STEPS}-step runs)`,
      measured: fmt(median(ratios)),
      pass: median(ratios) <= 1.03,
    }, {
      id: "reuse",
      name: "prompt tokens evaluated ÷ final prompt ≤ 1.05 (10-step run, no compaction)",
      measured: fmt(reuse),
      pass: reuse <= 1.05 && ten.compactions === 0,
    });
    if (gaps.length) {
      report.targets.push({
        id: "live-first",
        name: "live: engine's first content token → first chunk ≤ 5 ms",
        measured: `${median(gaps).toFixed(2)} ms`,
        pass: median(gaps) <= 5,
      });
    }
  });

  // 4. With compaction: a 512-token window.
  await withServer(["-c", "768"], async (baseURL) => {
    progress("10-step run, 512-token window");
    const s = await toolRun(baseURL, 10, 300);
    report.tables.push({
      id: "compaction",
      title: "10-step run with a 512-token window (-c 768): compaction",
      columns: [
        "calls",
        "compactions",
        "prompt tokens evaluated ÷ final prompt",
        "wall ÷ compute",
      ],
      rows: [[
        String(s.calls.length),
        String(s.compactions),
        fmt(reuseRatio(s.calls)),
        fmt(s.wallMs / s.computeMs),
      ]],
    });
  });

  // 5. Concurrent agents against --parallel 4.
  await withServer(["-np", "4"], async (baseURL) => {
    const rows: string[][] = [];
    for (const agents of QUICK ? [4] : [4, 16]) {
      progress(`${agents} concurrent agents`);
      const t0 = performance.now();
      const runs = await Promise.all(
        Array.from(
          { length: agents },
          (_, i) => toolRun(baseURL, STEPS, 400 + i),
        ),
      );
      const wall = performance.now() - t0;
      const tokens = runs.reduce(
        (n, r) => n + r.calls.reduce((m, c) => m + c.timings!.predicted_n, 0),
        0,
      );
      const ratios = runs.map((r) => r.wallMs / r.computeMs);
      rows.push([
        String(agents),
        ms(wall),
        `${(agents / (wall / 1000)).toFixed(2)} runs/s`,
        `${(tokens / (wall / 1000)).toFixed(0)} tok/s`,
        rangeOf(ratios),
        rangeOf(runs.map((r) => reuseRatio(r.calls))),
        String(runs.reduce((n, r) => n + r.retries, 0)),
      ]);
      if (agents === 4) {
        report.targets.push({
          id: "concurrent-4",
          name: "4 concurrent agents on -np 4: run wall ÷ server compute ≤ 1.03",
          measured: fmt(median(ratios)),
          pass: median(ratios) <= 1.03,
        });
      }
    }
    report.tables.push({
      id: "concurrent",
      title: `Concurrent ${STEPS}-step agent runs against -np 4 (-c 16384: 4096 tokens a slot)`,
      columns: [
        "agents",
        "wall",
        "throughput",
        "generated tokens",
        "run wall ÷ its compute",
        "evaluated ÷ final prompt",
        "requests sent again",
      ],
      rows,
    });
  });
  report.notes.push(
    "with 16 agents on 4 slots a run's wall includes queueing for a slot, which the server's " +
      "timings do not count: that ratio is reported, not a target",
  );
}

printReport(report);
