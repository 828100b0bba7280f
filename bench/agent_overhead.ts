// Agent overhead, against a zero-latency scripted model (a `fetch` returning prebuilt SSE
// Responses, one piece per event as a server flushing every token sends them):
//
// (a) A 20-step tool conversation (20 tool calls, then the final answer: 21 model turns)
//     through agent.stream(). Baseline: client.stream() draining the same 21 responses. The
//     agent's time per turn excluding the model is (agent − baseline) / 21, paired per round.
//     Target (issue 7): under 1 ms per step on Node 24.
// (b) agent.stream() of a 100k-token final answer (buffered, word chunks) versus
//     client.stream() of the same bytes, paired per round. Target: ≤ 1.3×. Live mode
//     (`live: true`) is measured too, for information.
import * as z from "zod";
import { Agent, defineTool, LMStudioClient } from "../mod.ts";
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
  eventPieces,
  finalEnvelopeDeltas,
  mixedTokens,
  scriptedFetch,
  toolCallDeltas,
} from "./_data.ts";

const BASE_URL = "http://127.0.0.1:9/v1";
const TOOL_STEPS = 20;
const MESSAGES = [{ role: "user" as const, content: "Go on." }];

const report = createReport(
  "agent_overhead",
  "2. Agent overhead",
  "Zero-latency scripted model. (a) 20 tool steps + final answer via agent.stream(), minus " +
    "client.stream() of the same 21 responses, per model turn. (b) agent.stream() of a " +
    "100k-token final answer ÷ client.stream() of the same bytes.",
);

const client = (fetch: typeof globalThis.fetch) =>
  new LMStudioClient({
    fetch,
    model: "bench-model",
    baseURL: BASE_URL,
    maxRetries: 0,
  });

async function drainClient(c: LMStudioClient, turns: number): Promise<number> {
  let chars = 0;
  for (let i = 0; i < turns; i++) {
    for await (const d of c.stream({ messages: MESSAGES })) {
      chars += d.text.length;
    }
  }
  return chars;
}

// ---- (a) 20-step tool conversation ------------------------------------------------------
{
  const add = defineTool({
    name: "add",
    description: "Adds two numbers.",
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }) => a + b,
  });
  const turns: Uint8Array[][] = [];
  for (let k = 1; k <= TOOL_STEPS; k++) {
    turns.push(eventPieces(toolCallDeltas("add", { a: k, b: k + 1 })));
  }
  const finalText = "All twenty sums are done: the last one is 41.";
  turns.push(eventPieces(finalEnvelopeDeltas([finalText])));
  const modelTurns = turns.length;

  const list: Candidate<string>[] = [
    {
      name: "agent.stream() 20 tool steps",
      run: async () => {
        const agent = new Agent({
          client: client(scriptedFetch(...turns)),
          tools: [add],
          maxSteps: 25,
        });
        const stream = agent.stream("Add the numbers twenty times.");
        const parts: string[] = [];
        for await (const chunk of stream) parts.push(chunk.text);
        const result = await stream.result;
        if (result.steps !== modelTurns) {
          throw new Error(`expected ${modelTurns} steps, got ${result.steps}`);
        }
        return parts.join("");
      },
    },
    {
      name: "client.stream() × 21 (baseline)",
      run: async () => String(await drainClient(client(scriptedFetch(...turns)), modelTurns)),
    },
  ];
  const [warmup, rounds] = QUICK ? [3, 7] : [10, 25];
  progress(`tool conversation: ${warmup}+${rounds} rounds`);
  const times = await measure(list, {
    warmup,
    rounds,
    verify: (name, out) => {
      if (name.startsWith("agent") && out !== finalText) {
        throw new Error(`${name}: wrong answer ${out}`);
      }
    },
  });
  const agentT = times.get(list[0]!.name)!;
  const baseT = times.get(list[1]!.name)!;
  const perStep = summarize(agentT.map((t, i) => (t - baseT[i]!) / modelTurns));
  const a = summarize(agentT);
  const b = summarize(baseT);
  report.tables.push({
    id: "steps",
    title: `20 tool steps + final answer (${modelTurns} model turns, ${rounds} rounds)`,
    columns: ["measure", "median", "min–max"],
    rows: [
      [list[0]!.name, ms(a.median), range(a)],
      [list[1]!.name, ms(b.median), range(b)],
      ["agent overhead per model turn", ms(perStep.median), range(perStep, 3)],
    ],
  });
  report.targets.push({
    id: "per-step",
    name: "agent overhead < 1 ms per step (target set for Node 24)",
    measured: ms(perStep.median),
    pass: perStep.median < 1,
  });
}

// ---- (b) 100k-token final answer --------------------------------------------------------
{
  const tokens = QUICK ? 20_000 : 100_000;
  const content = mixedTokens(tokens).join("");
  const pieces = eventPieces(finalEnvelopeDeltas(mixedTokens(tokens)));
  const fetch = scriptedFetch(pieces);
  const agentBuffered = new Agent({ client: client(fetch) });
  const agentLive = new Agent({ client: client(fetch), live: true });
  const baseline = client(fetch);
  const drainAgent = async (agent: Agent) => {
    const parts: string[] = [];
    for await (const chunk of agent.stream("Write a long answer.")) {
      parts.push(chunk.text);
    }
    return parts.join("");
  };
  const list: Candidate<string>[] = [
    { name: "agent.stream()", run: () => drainAgent(agentBuffered) },
    { name: "agent.stream({ live: true })", run: () => drainAgent(agentLive) },
    {
      name: "client.stream() (baseline)",
      run: async () => String(await drainClient(baseline, 1)),
    },
  ];
  const [warmup, rounds] = QUICK ? [1, 3] : [2, 9];
  progress(`${tokens / 1000}k-token answer: ${warmup}+${rounds} rounds`);
  const times = await measure(list, {
    warmup,
    rounds,
    verify: (name, out) => {
      if (name.startsWith("agent") && out !== content) {
        throw new Error(`${name}: text differs`);
      }
    },
  });
  const base = times.get(list[2]!.name)!;
  const rows = list.map((c) => {
    const t = times.get(c.name)!;
    const s = summarize(t);
    return [
      c.name,
      ms(s.median),
      range(s),
      ratio(summarize(pairedRatios(t, base))),
    ];
  });
  report.tables.push({
    id: "final",
    title: `${tokens / 1000}k-token final answer (${
      (content.length / 1e3).toFixed(0)
    }k UTF-16 units, ${pieces.length} events, ${rounds} rounds)`,
    columns: ["candidate", "median", "min–max ms", "÷ client.stream()"],
    rows,
  });
  const r = summarize(pairedRatios(times.get(list[0]!.name)!, base)).median;
  report.targets.push({
    id: "final-ratio",
    name: `agent.stream() of a ${tokens / 1000}k-token answer ≤ 1.3× client.stream()`,
    measured: `${r.toFixed(2)}×`,
    pass: r <= 1.3,
  });
}

printReport(report);
