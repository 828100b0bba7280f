// Time to first chunk, live versus buffered (issue 9): agent.stream() of a 500-token final
// answer served by the test kit's fake LM Studio at a paced 20 tokens/s (delayMs: 50 between
// SSE events), through its in-process fetch. Buffered mode (the default) can emit nothing
// before the whole reply has arrived and been validated; live mode emits the answer while the
// model writes it. Baseline: buffered mode. Reported: time to the first chunk, to the last
// chunk, and the model reply complete (the agent's model_response event), all measured from
// the call to stream().
// The two modes run concurrently (both only wait on timers), so this takes one stream's time.
//
// Check (issue 9's "first chunk arrives before the model finishes"): live TTFC < the model's
// stream time. --quick serves 100 tokens.
import { Agent, type AgentEvent, LMStudioClient } from "../mod.ts";
import { createFakeLMStudio } from "../testing.ts";
import { createReport, ms, printReport, progress, QUICK } from "./_common.ts";
import { finalEnvelopeDeltas, mixedTokens } from "./_data.ts";

const TOKENS = QUICK ? 100 : 500;
const DELAY_MS = 50;

const report = createReport(
  "live_first_chunk",
  "6. Time to first chunk: live vs buffered",
  `agent.stream() of a ${TOKENS}-token answer from the fake LM Studio paced at ` +
    `${1000 / DELAY_MS} tokens/s (delayMs ${DELAY_MS}); buffered (default) vs live: true.`,
);

const tokens = mixedTokens(TOKENS, 9);
const content = tokens.join("");
const deltas = finalEnvelopeDeltas(tokens);

interface Timing {
  firstChunk: number;
  lastChunk: number;
  modelDone: number;
  chunks: number;
}

async function run(live: boolean): Promise<Timing> {
  const fake = createFakeLMStudio({ replies: [{ deltas, delayMs: DELAY_MS }] });
  let modelDone = 0;
  let t0 = 0;
  const onEvent = (e: AgentEvent) => {
    if (e.type === "model_response") modelDone = performance.now() - t0;
  };
  const agent = new Agent({
    client: new LMStudioClient({
      fetch: fake.fetch,
      model: "fake-model",
      baseURL: "http://127.0.0.1:9/v1",
    }),
    live,
    onEvent,
  });
  t0 = performance.now();
  let firstChunk = -1;
  const parts: string[] = [];
  for await (const chunk of agent.stream("Write an answer.")) {
    if (firstChunk < 0) firstChunk = performance.now() - t0;
    parts.push(chunk.text);
  }
  const lastChunk = performance.now() - t0;
  if (parts.join("") !== content) {
    throw new Error(`${live ? "live" : "buffered"}: text differs`);
  }
  return { firstChunk, lastChunk, modelDone, chunks: parts.length };
}

progress(
  `${TOKENS} tokens at ${1000 / DELAY_MS}/s: buffered and live, concurrently`,
);
const [buffered, live] = await Promise.all([run(false), run(true)]);
report.tables.push({
  id: "ttfc",
  title: `${TOKENS}-token answer (${deltas.length} content deltas, ${DELAY_MS} ms apart)`,
  columns: [
    "mode",
    "first chunk",
    "last chunk",
    "model reply complete",
    "chunks",
    "first chunk ÷ buffered",
  ],
  rows: [buffered, live].map((t, i) => [
    i === 0 ? "buffered (default)" : "live: true",
    ms(t.firstChunk),
    ms(t.lastChunk),
    ms(t.modelDone),
    String(t.chunks),
    `${(t.firstChunk / buffered.firstChunk).toFixed(3)}×`,
  ]),
});
report.targets.push({
  id: "live-before-done",
  name: "live: first chunk arrives before the model finishes (issue 9)",
  measured: `${ms(live.firstChunk)} vs model done at ${ms(live.modelDone)}`,
  pass: live.firstChunk < live.modelDone,
});

printReport(report);
