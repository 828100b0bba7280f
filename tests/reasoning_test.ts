// The one reasoning splitter (src/_reasoning.ts), and what it guarantees the agent: for the same
// reply, buffered and live mode give the same answer or the same typed error, in both protocols,
// however the reply is cut into deltas. Includes the regression for a native answer that
// explains the <think> tag (it used to be cut in buffered mode and a LiveStreamError live).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import {
  ANSWER_MARKERS,
  REASONING_BLOCKS,
  ReasoningSplitter,
  splitReasoning,
} from "../src/_reasoning.ts";
import {
  Agent,
  type AgentEvent,
  type AgentOptions,
  LMStudioClient,
  type StreamChunk,
} from "../mod.ts";
import { createFakeLMStudio } from "../testing.ts";
import { cutText } from "./_kit/reliability_kit.ts";

/** Pushes `pieces` through one splitter; returns the answer text, reasoning and unclosed flag. */
function feed(pieces: readonly string[]) {
  const splitter = new ReasoningSplitter();
  const out = pieces.map((p) => splitter.push(p));
  out.push(splitter.end());
  return { text: out.join(""), reasoning: splitter.reasoning, unclosed: splitter.unclosed };
}

describe("splitReasoning()", () => {
  const cases: [string, string, string, boolean][] = [
    // reply, answer, reasoning, unclosed
    ["Hello", "Hello", "", false],
    ["  \n Hello ", "Hello ", "", false],
    ["<think>plan</think>\n\nHello", "Hello", "plan", false],
    ["<think> a </think><think></think> <think>b</think>Hi", "Hi", "a\nb", false],
    ["<think>cut off by the token lim", "", "cut off by the token lim", true],
    [
      "<think>x</think>The <think> tag marks reasoning.",
      "The <think> tag marks reasoning.",
      "x",
      false,
    ],
    ["Use <think>…</think> for reasoning.", "Use <think>…</think> for reasoning.", "", false],
    // <thinking> is a reasoning format since issue 17; a tag the splitter does not know stays answer.
    ["<thinking>now our tag</thinking>", "", "now our tag", false],
    ["<reflect>not our tag</reflect>", "<reflect>not our tag</reflect>", "", false],
    ["<thi", "<thi", "", false],
    ["<<think>x</think>", "<<think>x</think>", "", false],
    ["<think>a < b </thin <</think>ok", "ok", "a < b </thin <", false],
    ["", "", "", false],
  ];
  for (const [reply, text, reasoning, unclosed] of cases) {
    test(`${JSON.stringify(reply)} → answer ${JSON.stringify(text)}`, () => {
      assert.deepEqual(splitReasoning(reply), { text, reasoning, unclosed });
    });
  }

  test("every split into two pieces, and 1-character pieces, give the same result", () => {
    for (const [reply] of cases) {
      const whole = splitReasoning(reply);
      for (let i = 0; i <= reply.length; i++) {
        assert.deepEqual(feed([reply.slice(0, i), reply.slice(i)]), whole, `${reply} @${i}`);
      }
      assert.deepEqual(feed([...reply]), whole, reply);
    }
  });

  test("property: any answer behind any reasoning blocks, cut anywhere, comes out exactly", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 40 });
    fc.assert(
      fc.property(
        fc.array(text.map((t) => t.replaceAll("</think>", "")), { maxLength: 3 }),
        text,
        fc.constantFrom("", " ", "\n\n"),
        fc.array(fc.nat(200), { maxLength: 12 }),
        (blocks, body, gap, cuts) => {
          const answer = body.trimStart();
          // An answer starting with "<" could be read as a tag cut short; those are cases above.
          fc.pre(!answer.startsWith("<"));
          const reply = blocks.map((b) => `<think>${b}</think>${gap}`).join("") + answer;
          const pieces = cutText(reply, cuts.map((c) => c % (reply.length + 1)));
          const got = feed(pieces);
          assert.equal(got.text, answer);
          assert.equal(got.unclosed, false);
          assert.equal(
            got.reasoning,
            blocks.map((b) => b.trim()).filter((b) => b !== "").join("\n"),
          );
          assert.deepEqual(got, splitReasoning(reply));
        },
      ),
      { seed: 0x7e1, numRuns: 400 },
    );
  });
});

// ---- buffered and live agree ------------------------------------------------------------------

interface Outcome {
  text?: string;
  chunks: string;
  error?: string;
}

async function outcome(
  deltas: readonly string[],
  options: AgentOptions,
  live: boolean,
): Promise<Outcome> {
  // The same reply twice: a violation gets one corrective retry, which fails the same way.
  const fake = createFakeLMStudio({ replies: [{ deltas }, { deltas }] });
  const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
  const agent = new Agent({ client, ...options });
  const chunks: StreamChunk[] = [];
  const stream = agent.stream("q", { live });
  try {
    for await (const chunk of stream) chunks.push(chunk);
    return { text: (await stream.result).text, chunks: chunks.map((c) => c.text).join("") };
  } catch (err) {
    return { chunks: chunks.map((c) => c.text).join(""), error: (err as Error).name };
  }
}

describe("buffered and live mode agree on every reply", () => {
  test("native: an answer that explains the <think> tag is kept whole, buffered and live", async () => {
    const reply = "<think>The user asks about tags.</think>\n\nWrap reasoning in <think> and " +
      "</think> tags, like <think>this</think>.";
    const answer = "Wrap reasoning in <think> and </think> tags, like <think>this</think>.";
    for (const live of [false, true]) {
      for (const deltas of [[reply], [...reply], reply.split(" ").map((w, i) => i ? ` ${w}` : w)]) {
        const got = await outcome(deltas, { protocol: "native" }, live);
        assert.deepEqual(got, { text: answer, chunks: answer }, `live ${live}`);
      }
    }
  });

  const pieces = fc.array(fc.nat(300), { maxLength: 10 });
  const reasoning = fc.option(fc.string({ maxLength: 20 }).map((s) => s.replaceAll("<", "")), {
    nil: undefined,
  });
  const answer = fc.oneof(
    fc.string({ unit: "grapheme", maxLength: 30 }),
    fc.constantFrom("Use <think> tags.", "", "  ", "{not json", "a </think> b"),
  );

  for (const protocol of ["native", "envelope"] as const) {
    test(`${protocol}: property: the same answer or the same typed error, whatever the deltas`, async () => {
      await fc.assert(
        fc.asyncProperty(
          reasoning,
          answer,
          fc.boolean(),
          fc.boolean(),
          pieces,
          async (think, body, wrap, unclose, cuts) => {
            const content = protocol === "envelope" && wrap
              ? JSON.stringify({ type: "final", content: body })
              : body;
            const lead = think === undefined ? "" : `<think>${think}${unclose ? "" : "</think>"}\n`;
            const reply = lead + content;
            const deltas = cutText(reply, cuts.map((c) => c % (reply.length + 1)))
              .filter((d) => d !== "");
            const buffered = await outcome(deltas, { protocol }, false);
            const live = await outcome(deltas, { protocol }, true);
            assert.deepEqual(live, buffered, JSON.stringify(deltas));
            if (buffered.text !== undefined) assert.equal(buffered.chunks, buffered.text);
          },
        ),
        { seed: 0x5917, numRuns: 150 },
      );
    });
  }
});

// ---- every reasoning format (issue 17) --------------------------------------------------------

interface FormatCase {
  name: string;
  source: string;
  content: string;
  answer: string;
  reasoning: string;
  unclosed?: boolean;
}

const formats: FormatCase[] = JSON.parse(
  readFileSync(new URL("./fixtures/reasoning/formats.json", import.meta.url), "utf8"),
).cases;

/** Pushes `pieces`; returns the answer, the reasoning and the streamed reasoning pieces joined. */
function feedStreaming(pieces: readonly string[]) {
  const splitter = new ReasoningSplitter();
  const text: string[] = [];
  const streamed: string[] = [];
  for (const p of pieces) {
    text.push(splitter.push(p));
    streamed.push(splitter.takeReasoning());
  }
  text.push(splitter.end());
  streamed.push(splitter.takeReasoning());
  return { text: text.join(""), reasoning: splitter.reasoning, streamed: streamed.join("") };
}

interface Watched {
  text?: string;
  chunks: string;
  error?: string;
  /** model_delta reasoning, joined. */
  deltaReasoning: string;
  /** model_response reasoning of the first reply. */
  responseReasoning?: string;
}

async function watch(
  deltas: readonly string[],
  live: boolean,
  reply: { reasoning?: string } = {},
): Promise<Watched> {
  const fake = createFakeLMStudio({ replies: [{ deltas, ...reply }, { deltas, ...reply }] });
  const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
  const events: AgentEvent[] = [];
  const agent = new Agent({ client, protocol: "native", onEvent: (e) => events.push(e) });
  const chunks: StreamChunk[] = [];
  const out: Watched = { chunks: "", deltaReasoning: "" };
  const stream = agent.stream("q", { live });
  try {
    for await (const chunk of stream) chunks.push(chunk);
    out.text = (await stream.result).text;
  } catch (err) {
    out.error = (err as Error).name;
  }
  out.chunks = chunks.map((c) => c.text).join("");
  const first = events.findIndex((e) => e.type === "model_response");
  out.deltaReasoning = events.slice(0, first).flatMap((e) =>
    e.type === "model_delta" ? [e.reasoning] : []
  ).join("");
  const response = events[first];
  if (response?.type === "model_response") out.responseReasoning = response.reasoning;
  return out;
}

describe("every reasoning format: one reasoning channel", () => {
  test("no opening tag is a prefix of another; no closing tag repeats its first character", () => {
    const tags = [...REASONING_BLOCKS.map((b) => b.open), ...ANSWER_MARKERS];
    for (const a of tags) {
      for (const b of tags) if (a !== b) assert.ok(!b.startsWith(a), `${a} / ${b}`);
    }
    for (const { close } of REASONING_BLOCKS) assert.ok(!close.slice(1).includes(close[0]!), close);
  });

  for (const f of formats) {
    test(`${f.name}: whole, every 2-piece split and 1-char pieces (${f.source.slice(0, 40)}…)`, () => {
      const expected = { text: f.answer, reasoning: f.reasoning, unclosed: f.unclosed ?? false };
      assert.deepEqual(splitReasoning(f.content), expected);
      const splits = [[...f.content]];
      for (let i = 0; i <= f.content.length; i++) {
        splits.push([f.content.slice(0, i), f.content.slice(i)]);
      }
      for (const pieces of splits) {
        const got = feedStreaming(pieces);
        assert.equal(got.text, f.answer, JSON.stringify(pieces));
        assert.equal(got.reasoning, f.reasoning);
        assert.equal(got.streamed, f.reasoning, "streamed reasoning equals the whole");
      }
    });

    test(`${f.name}: through an agent, buffered and live, whole / 1-char / random deltas`, async () => {
      const random = fc.sample(fc.array(fc.nat(f.content.length), { maxLength: 8 }), {
        seed: 17,
        numRuns: 1,
      })[0]!;
      const splits = [[f.content], [...f.content], cutText(f.content, random)];
      for (const deltas of splits.map((s) => s.filter((d) => d !== ""))) {
        for (const live of [false, true]) {
          const got = await watch(deltas, live);
          const label = `live ${live}: ${JSON.stringify(deltas)}`;
          assert.equal(got.deltaReasoning, f.reasoning, label);
          assert.equal(got.responseReasoning, f.reasoning, label);
          if (f.answer === "") {
            assert.equal(got.error, "ProtocolError", label); // reasoning only: a violation, twice
            assert.equal(got.chunks, "", label);
          } else {
            assert.deepEqual([got.text, got.chunks], [f.answer, f.answer], label);
          }
        }
      }
    });
  }

  test("reasoning_content and inline blocks are one channel: field first, then inline", async () => {
    for (const live of [false, true]) {
      const got = await watch(["<thought>inline</thought>", "Hi"], live, { reasoning: "field" });
      assert.equal(got.text, "Hi");
      assert.equal(got.responseReasoning, "field\ninline");
      assert.equal(got.deltaReasoning, "fieldinline");
    }
  });

  test("property: any answer in any format, cut anywhere: the answer in chunks, the reasoning in events", async () => {
    const blockText = fc.string({ unit: "grapheme", maxLength: 20 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(REASONING_BLOCKS.length - 1), blockText), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }),
        fc.constantFrom("", "\n", "\n\n", " "),
        fc.boolean(),
        fc.array(fc.nat(400), { maxLength: 10 }),
        async (blocks, body, gap, live, cuts) => {
          const answer = body.trim();
          // An answer starting like a tag could be read as one cut short: cases above.
          fc.pre(answer !== "" && !/^[<[◁{`]/.test(answer));
          fc.pre(blocks.every(([i, t]) => !t.includes(REASONING_BLOCKS[i]!.close)));
          const reply = blocks.map(([i, t]) => {
            const { open, close } = REASONING_BLOCKS[i]!;
            return `${open}${t}${close}${gap}`;
          }).join("") + answer;
          const reasoning = blocks.map(([, t]) => t.trim()).filter((t) => t !== "").join("\n");
          const deltas = cutText(reply, cuts).filter((d) => d !== "");
          const got = await watch(deltas, live);
          assert.equal(got.text, answer);
          assert.equal(got.chunks, answer);
          assert.equal(got.deltaReasoning, reasoning);
          assert.equal(got.responseReasoning, reasoning);
        },
      ),
      { seed: 0x17, numRuns: 120 },
    );
  });
});

describe("reasoning is never sent back", () => {
  test("a rejected reply goes back for correction without its reasoning block", async () => {
    const fake = createFakeLMStudio({
      replies: [
        { content: "<think>SECRET-PLAN</think>not an envelope" },
        { content: JSON.stringify({ type: "final", content: "ok" }) },
      ],
    });
    const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
    assert.equal((await new Agent({ client }).run("q")).text, "ok");
    const retry = fake.chatRequests[1]!.body!.messages;
    const echo = retry.at(-2)!;
    assert.equal(echo.role, "assistant");
    assert.equal(echo.content, "not an envelope");
    assert.ok(!JSON.stringify(retry).includes("SECRET-PLAN"));
  });
});

describe("the result carries the answer's reasoning", () => {
  for (const live of [false, true]) {
    test(`native (live ${live}): result.reasoning has the field and the inline block, the text neither`, async () => {
      const fake = createFakeLMStudio({
        replies: [{
          reasoning: "from the field",
          content: "<think>inline plan</think>\nThe answer.",
        }],
      });
      const client = new LMStudioClient({ fetch: fake.fetch, model: "m", maxRetries: 0 });
      const stream = new Agent({ client, protocol: "native" }).stream("q", { live });
      const chunks: string[] = [];
      for await (const c of stream) chunks.push(c.text);
      const result = await stream.result;
      assert.equal(result.text, "The answer.");
      assert.equal(chunks.join(""), "The answer.");
      assert.equal(result.reasoning, "from the field\ninline plan");
    });
  }
});
