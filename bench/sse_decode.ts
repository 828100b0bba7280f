// SSE decode throughput: time to turn a streamed chat completion (a `Response` from an
// injected zero-latency `fetch`) into its text, for 10k and 100k mixed-script tokens, with the
// body cut (a) into 1 KiB pieces and (b) into seeded random 1–17-byte pieces (cuts inside
// multi-byte characters, inside `data:`, inside the blank line).
//
// Candidates, each checked to reconstruct the exact text:
//   client.stream()      this library, through its public entry (mod.ts)
//   lower bound A        TextDecoderStream → split on blank lines → JSON.parse per data line
//   lower bound B        the same with TextDecoder({stream: true}) in the read loop (no stages)
//   esp stream           eventsource-parser's EventSourceParserStream + JSON.parse
//   esp createParser     eventsource-parser's createParser fed from a read loop + JSON.parse
//                        (the approach src/chat_stream.ts takes)
//   openai               the openai npm client's streaming chat completion (custom fetch)
//   AI SDK streamText    `ai` + @ai-sdk/openai-compatible (custom fetch), textStream
//
// Baselines: lower bounds A and B. Ratios are per-round paired ratios (each round runs every
// candidate once, interleaved), as median (min–max).
//
// The LM Studio rows (issue 19): real ids and model names, a socket-like pull body; also in 32
// KiB reads, the size Node's fetch reads from a loopback socket that coalesced a fast server's
// 1 KiB writes (the lower bounds pay their per-read costs less often there; client.stream()
// still resumes its consumer once per event).
//
// Targets (issue 7): client.stream() ≤ 1.0× A and ≤ 1.5× B on every runtime and split, and
// faster than every peer.
import OpenAI from "openai";
import { streamText } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { createParser } from "eventsource-parser";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { LMStudioClient } from "../mod.ts";
import {
  type Candidate,
  createReport,
  measure,
  ms,
  pairedRatios,
  printReport,
  progress,
  QUICK,
  range,
  ratio,
  summarize,
} from "./_common.ts";
import {
  completionBytes,
  lmStudioCompletionBytes,
  mixedTokens,
  pullFetch,
  scriptedFetch,
  type Split,
  splitPieces,
} from "./_data.ts";

const BASE_URL = "http://127.0.0.1:9/v1";
const MODEL = "bench-model";
const MESSAGES = [{ role: "user" as const, content: "Write a long answer." }];

type Delta = { choices?: Array<{ delta?: { content?: string | null } }> };

/** Content of one parsed chunk ("" for role-only, finish and usage chunks). */
function contentOf(json: Delta): string {
  return json.choices?.[0]?.delta?.content ?? "";
}

function candidates(fetch: typeof globalThis.fetch): Candidate<string>[] {
  const client = new LMStudioClient({
    fetch,
    model: MODEL,
    baseURL: BASE_URL,
    maxRetries: 0,
  });
  const openai = new OpenAI({
    apiKey: "sk-bench",
    baseURL: BASE_URL,
    fetch,
    maxRetries: 0,
  });
  const provider = createOpenAICompatible({
    name: "lmstudio",
    baseURL: BASE_URL,
    fetch,
  });
  const body = async () => (await fetch(`${BASE_URL}/chat/completions`, { method: "POST" })).body!;

  return [
    {
      name: "client.stream()",
      run: async () => {
        const parts: string[] = [];
        for await (const d of client.stream({ messages: MESSAGES })) {
          parts.push(d.text);
        }
        return parts.join("");
      },
    },
    {
      name: "lower bound A",
      run: async () => {
        const reader = (await body()).pipeThrough(new TextDecoderStream())
          .getReader();
        const parts: string[] = [];
        let buffer = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer = takeEvents(buffer + value, parts);
        }
        return parts.join("");
      },
    },
    {
      name: "lower bound B",
      run: async () => {
        const reader = (await body()).getReader();
        const decoder = new TextDecoder();
        const parts: string[] = [];
        let buffer = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer = takeEvents(
            buffer + decoder.decode(value, { stream: true }),
            parts,
          );
        }
        return parts.join("");
      },
    },
    {
      name: "esp stream",
      run: async () => {
        const events = (await body())
          .pipeThrough(new TextDecoderStream())
          .pipeThrough(new EventSourceParserStream());
        const reader = events.getReader();
        const parts: string[] = [];
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (value.data === "[DONE]") break;
          parts.push(contentOf(JSON.parse(value.data)));
        }
        reader.cancel().catch(() => {});
        return parts.join("");
      },
    },
    {
      name: "esp createParser",
      run: async () => {
        const reader = (await body()).getReader();
        const decoder = new TextDecoder();
        const parts: string[] = [];
        let finished = false;
        const parser = createParser({
          onEvent(event) {
            if (event.data === "[DONE]") finished = true;
            else parts.push(contentOf(JSON.parse(event.data)));
          },
        });
        while (!finished) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
        }
        reader.cancel().catch(() => {});
        return parts.join("");
      },
    },
    {
      name: "openai",
      run: async () => {
        const stream = await openai.chat.completions.create({
          model: MODEL,
          messages: MESSAGES,
          stream: true,
        });
        const parts: string[] = [];
        for await (const chunk of stream) {
          parts.push(chunk.choices[0]?.delta?.content ?? "");
        }
        return parts.join("");
      },
    },
    {
      name: "AI SDK streamText",
      run: async () => {
        let error: unknown;
        const result = streamText({
          model: provider.chatModel(MODEL),
          prompt: "Write a long answer.",
          maxRetries: 0,
          onError: ({ error: e }) => {
            error = e;
          },
        });
        const parts: string[] = [];
        for await (const t of result.textStream) parts.push(t);
        if (error) throw error;
        return parts.join("");
      },
    },
  ];
}

const report = createReport(
  "sse_decode",
  "1. SSE decode throughput",
  "Response body (injected fetch) → text; 10k/100k mixed-script tokens, 1 KiB or random " +
    "1–17-byte pieces. Ratios vs lower bounds A (TextDecoderStream + split + JSON.parse) and B " +
    "(TextDecoder in the read loop), paired per round.",
);

// `lmstudio`: the LM Studio-shaped corpus (real ids and model names: longer chunks) through a
// socket-like pull body (no read-ahead, one fresh piece per read), as issue 19's harness had it.
const configs: Array<
  {
    tokens: number;
    split: Split;
    warmup: number;
    rounds: number;
    lmstudio?: boolean;
  }
> = QUICK
  ? [
    { tokens: 10_000, split: "1KiB", warmup: 1, rounds: 3 },
    { tokens: 3_000, split: "random", warmup: 1, rounds: 3 },
    { tokens: 10_000, split: "1KiB", warmup: 1, rounds: 3, lmstudio: true },
    { tokens: 10_000, split: "32KiB", warmup: 1, rounds: 3, lmstudio: true },
  ]
  : [
    { tokens: 10_000, split: "1KiB", warmup: 2, rounds: 9 },
    { tokens: 10_000, split: "random", warmup: 2, rounds: 7 },
    // The 10k rounds have warmed the JIT up; a 100k round is long enough to be its own.
    { tokens: 100_000, split: "1KiB", warmup: 1, rounds: 5 },
    { tokens: 100_000, split: "random", warmup: 0, rounds: 3 },
    { tokens: 10_000, split: "1KiB", warmup: 1, rounds: 9, lmstudio: true },
    { tokens: 10_000, split: "random", warmup: 1, rounds: 7, lmstudio: true },
    { tokens: 10_000, split: "32KiB", warmup: 1, rounds: 9, lmstudio: true },
  ];

for (const { tokens, split, warmup, rounds, lmstudio } of configs) {
  const deltas = mixedTokens(tokens);
  const expected = deltas.join("");
  const bytes = lmstudio ? lmStudioCompletionBytes(deltas) : completionBytes(deltas);
  const pieces = splitPieces(bytes, split);
  const pieceLabel = { "1KiB": "1 KiB", "32KiB": "32 KiB", random: "1–17 B" }[split];
  const label = `${tokens / 1000}k tokens, ${pieceLabel} pieces${
    lmstudio ? ", LM Studio corpus, pull body" : ""
  }`;
  progress(
    `${label}: ${(bytes.length / 1e6).toFixed(1)} MB in ${pieces.length} pieces`,
  );
  const list = candidates(lmstudio ? pullFetch(pieces) : scriptedFetch(pieces));
  const times = await measure(list, {
    warmup,
    rounds,
    verify: (name, text) => {
      if (text !== expected) {
        throw new Error(
          `${name} did not reconstruct the text (${text.length} vs ${expected.length} chars)`,
        );
      }
    },
    onRound: (r) => progress(`${label}: round ${r + 1}/${warmup + rounds}`),
  });
  const a = times.get("lower bound A")!;
  const b = times.get("lower bound B")!;
  const rows: string[][] = [];
  const vsA = new Map<string, number>();
  for (const c of list) {
    const t = times.get(c.name)!;
    const s = summarize(t);
    const rA = summarize(pairedRatios(t, a));
    const rB = summarize(pairedRatios(t, b));
    vsA.set(c.name, rA.median);
    rows.push([
      c.name,
      ms(s.median),
      range(s),
      `${((bytes.length / 1e6) / (s.median / 1000)).toFixed(0)} MB/s`,
      ratio(rA),
      ratio(rB),
    ]);
  }
  report.tables.push({
    id: `${tokens}-${split}${lmstudio ? "-lms" : ""}`,
    title: `${label} (${(bytes.length / 1e6).toFixed(1)} MB, ${rounds} rounds)`,
    columns: ["candidate", "median", "min–max ms", "throughput", "÷ A", "÷ B"],
    rows,
  });
  const lib = summarize(pairedRatios(times.get("client.stream()")!, a)).median;
  const libB = summarize(pairedRatios(times.get("client.stream()")!, b)).median;
  report.targets.push({
    id: `${tokens}-${split}${lmstudio ? "-lms" : ""}-A`,
    name: `client.stream() ≤ 1.0× lower bound A (${label})`,
    measured: `${lib.toFixed(2)}×`,
    pass: lib <= 1.0,
  });
  report.targets.push({
    id: `${tokens}-${split}${lmstudio ? "-lms" : ""}-B`,
    name: `client.stream() ≤ 1.5× lower bound B (${label})`,
    measured: `${libB.toFixed(2)}×`,
    pass: libB <= 1.5,
  });
  const peers = ["esp stream", "openai", "AI SDK streamText"];
  const fastestPeer = peers.reduce((
    x,
    y,
  ) => (vsA.get(x)! <= vsA.get(y)! ? x : y));
  report.targets.push({
    id: `${tokens}-${split}${lmstudio ? "-lms" : ""}-peers`,
    name: `client.stream() faster than every peer (${label})`,
    measured: `${lib.toFixed(2)}× A vs fastest peer ${fastestPeer} ${
      vsA.get(fastestPeer)!.toFixed(2)
    }×`,
    pass: peers.every((p) => lib < vsA.get(p)!),
  });
}

printReport(report);

/**
 * The lower bounds' parsing: every complete event in `buffer` (its `data:` lines, JSON-parsed,
 * `[DONE]` skipped) goes into `parts`; returns the incomplete rest.
 */
function takeEvents(buffer: string, parts: string[]): string {
  const end = buffer.lastIndexOf("\n\n");
  if (end === -1) return buffer;
  for (const event of buffer.slice(0, end).split("\n\n")) {
    for (const line of event.split("\n")) {
      if (!line.startsWith("data: ")) continue;
      const data = line.slice(6);
      if (data !== "[DONE]") parts.push(contentOf(JSON.parse(data)));
    }
  }
  return buffer.slice(end + 2);
}
