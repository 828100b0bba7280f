import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { JsonStringDecoder, LiveFinalExtractor } from "../src/_live_final.ts";
import { cutText } from "./_kit/reliability_kit.ts";

/** Feeds `deltas` one by one; returns every push() result and the extractor. */
function feed(deltas: readonly string[]): { outputs: string[]; ex: LiveFinalExtractor } {
  const ex = new LiveFinalExtractor();
  const outputs = deltas.map((d) => ex.push(d));
  return { outputs, ex };
}

/** Every way of cutting `s` into two or three pieces, plus one character per piece. */
function* everySplit(s: string): Generator<string[]> {
  for (let i = 0; i <= s.length; i++) {
    for (let j = i; j <= s.length; j++) yield [s.slice(0, i), s.slice(i, j), s.slice(j)];
  }
  yield [...s.split("")];
}

/** JSON.stringify, then every non-ASCII code unit written as a \uXXXX escape. */
function stringifyAscii(value: unknown, indent?: string | number): string {
  return JSON.stringify(value, null, indent).replace(
    /[^\x20-\x7e\n\t]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function decodeAll(pieces: readonly string[]): { text: string; dec: JsonStringDecoder } {
  const dec = new JsonStringDecoder();
  return { text: pieces.map((p) => dec.push(p)).join(""), dec };
}

describe("JsonStringDecoder", () => {
  test("decodes every simple escape and stops at the closing quote", () => {
    const { text, dec } = decodeAll(['a\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti"', ',"x":1}']);
    assert.equal(text, 'a"b\\c/d\be\ff\ng\rh\ti');
    assert.equal(dec.done, true);
    assert.equal(dec.rest, ',"x":1}');
  });

  test("an escape split at every position decodes the same", () => {
    const raw = 'x\\u00e9\\n\\"\\\\y\\u20ACz"tail';
    for (const pieces of everySplit(raw)) {
      const { text, dec } = decodeAll(pieces);
      assert.equal(text, 'xé\n"\\y€z', JSON.stringify(pieces));
      assert.equal(dec.done, true);
      assert.equal(dec.rest, "tail");
    }
  });

  test("a surrogate pair written as two \\u escapes is returned whole, wherever it is cut", () => {
    const raw = 'a\\uD83D\\uDE00b"';
    for (const pieces of everySplit(raw)) {
      const dec = new JsonStringDecoder();
      const outputs = pieces.map((p) => dec.push(p));
      assert.equal(outputs.join(""), "a😀b", JSON.stringify(pieces));
      for (const o of outputs) assert.ok(o.isWellFormed(), JSON.stringify({ pieces, outputs }));
    }
  });

  test("a raw emoji cut between its surrogate halves is returned whole", () => {
    const dec = new JsonStringDecoder();
    assert.equal(dec.push("x\ud83d"), "x");
    assert.equal(dec.push(""), "");
    assert.equal(dec.push("\ude00y"), "😀y");
  });

  test("a lone high surrogate written in the JSON is returned at the closing quote", () => {
    const dec = new JsonStringDecoder();
    assert.equal(dec.push("a\\ud800"), "a");
    assert.equal(dec.push('"'), "\ud800");
    assert.equal(dec.done, true);
  });

  test("a lone high surrogate followed by an ordinary character is returned with it", () => {
    const { text } = decodeAll(["\\ud800", "\\u0041", '"']);
    assert.equal(text, "\ud800A");
  });

  test("nothing after the closing quote is returned, even from later pushes", () => {
    const dec = new JsonStringDecoder();
    assert.equal(dec.push('ab"cd'), "ab");
    assert.equal(dec.push('ef\\n"'), "");
    assert.equal(dec.rest, 'cdef\\n"');
  });

  test("raw control characters pass through", () => {
    assert.equal(decodeAll(["a\nb\tc\u0001", '"']).text, "a\nb\tc\u0001");
  });

  test("an invalid escape throws a SyntaxError naming it", () => {
    assert.throws(() => new JsonStringDecoder().push("ab\\x"), {
      name: "SyntaxError",
      message: /Invalid escape in JSON string: "\\x"/,
    });
  });

  test("a \\u escape with a non-hex digit throws, even when split across pushes", () => {
    const dec = new JsonStringDecoder();
    assert.equal(dec.push("ok\\u0"), "ok");
    assert.throws(() => dec.push("0g1"), {
      name: "SyntaxError",
      message: /expected 4 hex digits after "\\u00", got "g"/,
    });
    assert.throws(() => dec.push('"'), SyntaxError);
  });

  test("pushAt() reads from an offset and end points past the closing quote", () => {
    const dec = new JsonStringDecoder();
    assert.equal(dec.pushAt('{"key": "v\\u0061l", 1', 9), "val");
    assert.equal(dec.end, 18);
    assert.equal(dec.rest, ", 1");
  });
});

describe("LiveFinalExtractor", () => {
  test("returns the content as it streams and stops at its closing quote", () => {
    const { outputs, ex } = feed(['{"type":"final","con', 'tent":"Hel', 'lo"', "}"]);
    assert.deepEqual(outputs, ["", "Hel", "lo", ""]);
    assert.equal(ex.state, "final");
    assert.equal(ex.contentComplete, true);
    assert.equal(ex.emitted, "Hello");
  });

  test("state stays unknown after type final until the content string begins", () => {
    const ex = new LiveFinalExtractor();
    ex.push('{"type":"final", "content": ');
    assert.equal(ex.state, "unknown");
    assert.equal(ex.push('"'), "");
    assert.equal(ex.state, "final");
    assert.equal(ex.contentComplete, false);
  });

  test("text after the content's closing quote is never returned", () => {
    const { outputs, ex } = feed(['{"type":"final","content":"ok", "x":"LEAK"}\n```', "LEAK"]);
    assert.deepEqual(outputs, ["ok", ""]);
    assert.equal(ex.emitted, "ok");
  });

  test("escapes in content cut at every position decode the same", () => {
    const reply = '{"type":"final","content":"a\\"b\\\\c\\u00e9\\n\\uD83D\\uDE00d"}';
    for (const pieces of everySplit(reply)) {
      const { outputs, ex } = feed(pieces);
      assert.equal(outputs.join(""), 'a"b\\cé\n😀d', JSON.stringify(pieces));
      for (const o of outputs) assert.ok(o.isWellFormed(), JSON.stringify({ pieces, outputs }));
      assert.equal(ex.state, "final");
      assert.equal(ex.contentComplete, true);
    }
  });

  test("raw emoji and other non-ASCII text pass through", () => {
    const content = "héllo 👋🏽 世界 👨‍👩‍👧";
    const { outputs } = feed([...JSON.stringify({ type: "final", content })]);
    assert.equal(outputs.join(""), content);
  });

  test("a ```json fence and surrounding whitespace are skipped", () => {
    const reply = '\n ```json\n{ "type" : "final" , "content" : "fenced" }\n```\n';
    for (const pieces of everySplit(reply)) {
      const { outputs, ex } = feed(pieces);
      assert.equal(outputs.join(""), "fenced", JSON.stringify(pieces));
      assert.equal(ex.state, "final");
    }
  });

  test("a bare ``` fence is skipped", () => {
    assert.equal(feed(['```\n{"type":"final","content":"x"}\n```']).ex.emitted, "x");
  });

  test("think blocks cut across deltas are skipped; an unclosed one keeps waiting", () => {
    const think = '<think>plan: {"type":"tool_call"} a < b </thin <</think>';
    const reply = `${think}\n<think></think>{"type":"final","content":"after"}`;
    for (const pieces of everySplit(reply)) {
      const { outputs, ex } = feed(pieces);
      assert.equal(outputs.join(""), "after", JSON.stringify(pieces));
      assert.equal(ex.state, "final");
    }
    const ex = new LiveFinalExtractor();
    assert.equal(ex.push('<think>{"type":"final","content":"no"}'), "");
    assert.equal(ex.state, "unknown");
    assert.equal(ex.push("<</think>"), "");
    assert.equal(ex.push('{"type":"final","content":"yes"}'), "yes");
  });

  test("a think block before a fence is skipped", () => {
    const { ex } = feed(['<think>hm</think>\n\n```json\n{"type":"final","content":"z"}\n```']);
    assert.equal(ex.emitted, "z");
  });

  test("content before type is held and released when type final arrives", () => {
    const ex = new LiveFinalExtractor();
    assert.equal(ex.push('{"content":"held '), "");
    assert.equal(ex.push('text", "type"'), "");
    assert.equal(ex.state, "unknown");
    assert.equal(ex.contentComplete, true);
    assert.equal(ex.push(': "final"}'), "held text");
    assert.equal(ex.state, "final");
    assert.equal(ex.push("more"), "");
  });

  test("content before a non-final type is never returned", () => {
    const { outputs, ex } = feed(['{"content":"secret","type":"tool_call","tool":"x"}']);
    assert.deepEqual(outputs, [""]);
    assert.equal(ex.state, "not_final");
    assert.equal(ex.emitted, "");
  });

  test("escaped characters in keys and the type value are decoded", () => {
    const { ex } = feed(['{"\\u0074ype":"fin\\u0061l","con\\u0074ent":"k"}']);
    assert.equal(ex.emitted, "k");
  });

  test("other keys with nested values before type and content are skipped", () => {
    const reply = '{"meta":{"content":"no","a":[1,{"b":"}]\\""}]},"n":-1.5e3,"t":true,' +
      '"s":"\\"content\\":\\"no\\"","nil":null,"type":"final","x":[],"content":"yes"}';
    for (const pieces of everySplit(reply)) {
      assert.equal(feed(pieces).ex.emitted, "yes", JSON.stringify(pieces));
    }
  });

  test("a tool_call reply is not_final and never returns text", () => {
    const reply = JSON.stringify({
      type: "tool_call",
      tool: "search",
      arguments: { content: "not an answer" },
    });
    const ex = new LiveFinalExtractor();
    assert.equal(ex.push(reply.slice(0, 9)), "");
    assert.equal(ex.state, "unknown");
    for (const ch of reply.slice(9)) assert.equal(ex.push(ch), "");
    assert.equal(ex.state, "not_final");
    assert.equal(ex.push('{"type":"final","content":"late"}'), "");
  });

  test("text before the object makes the reply not_final at once", () => {
    for (const start of ["Sure! ", "<reflect>", "````", "``x"]) {
      const ex = new LiveFinalExtractor();
      ex.push(start);
      assert.equal(ex.state, "not_final", start);
      assert.equal(ex.push('{"type":"final","content":"x"}'), "", start);
    }
  });

  test("a non-string content or type makes the reply not_final", () => {
    for (const reply of ['{"type":"final","content":42}', '{"content":["a"],"type":"final"}']) {
      assert.equal(feed([reply]).ex.state, "not_final", reply);
    }
    assert.equal(feed(['{"type":1,"content":"x"}']).ex.emitted, "");
  });

  test("an object that closes without both keys is not_final", () => {
    assert.equal(feed(['{"type":"final"}']).ex.state, "not_final");
    assert.equal(feed(['{"content":"x"}']).ex.state, "not_final");
  });

  test("an invalid escape in content makes the reply not_final without throwing", () => {
    const ex = new LiveFinalExtractor();
    assert.equal(ex.push('{"type":"final","content":"good '), "good ");
    assert.equal(ex.push("\\q bad"), "");
    assert.equal(ex.state, "not_final");
    assert.equal(ex.emitted, "good ");
    assert.equal(ex.push('"}'), "");
  });

  test("cost is linear: 200k one-character deltas, reading emitted after each, finish quickly", () => {
    const content = "ab\\n".repeat(50_000);
    const reply = `{"type":"final","content":"${content}"}`;
    const ex = new LiveFinalExtractor();
    const t0 = performance.now();
    let n = 0;
    for (const ch of reply) {
      n += ex.push(ch).length;
      // Callers may read `emitted` after every delta; that must not be quadratic either.
      if (ex.emitted.length !== n) assert.fail(`emitted has ${ex.emitted.length} chars, want ${n}`);
    }
    const ms = performance.now() - t0;
    assert.equal(n, 150_000);
    // Linear work is ~tens of ms; re-scanning the buffer per delta would take many seconds.
    assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
  });
});

describe("LiveFinalExtractor properties", () => {
  const hard = fc.constantFrom(
    '"',
    "\\",
    "\\u",
    "/",
    "\n",
    "\r\n",
    "\t",
    "\u0000",
    "\u001f",
    "\u2028",
    "\u2029",
    "😀",
    "👨‍👩‍👧",
    "𝄞",
    "}",
    '"}',
    "```",
    "</think>",
  );
  const astral = fc.integer({ min: 0x10000, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp));
  const content = fc.oneof(
    fc.string({ unit: "grapheme" }),
    fc.array(fc.oneof(hard, astral, fc.string({ unit: "grapheme", maxLength: 3 }))).map((a) =>
      a.join("")
    ),
  );
  const cuts = fc.array(fc.nat(), { maxLength: 12 });

  test("any final reply, any wrapping, any cuts: outputs join to the content", () => {
    const reply = fc.record({
      content,
      reversed: fc.boolean(),
      extra: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
      indent: fc.constantFrom(undefined, 2, "\t"),
      ascii: fc.boolean(),
      lead: fc.constantFrom("", " ", "\n\n"),
      think: fc.option(
        fc.string({ unit: "grapheme" }).map((s) => s.replaceAll("</think>", "</ think>")),
        {
          nil: undefined,
        },
      ),
      fence: fc.constantFrom("", "```\n", "```json\n"),
    });
    fc.assert(
      fc.property(reply, cuts, (r, points) => {
        const envelope: Record<string, unknown> = {};
        if (r.extra !== undefined) envelope.meta = r.extra;
        if (r.reversed) Object.assign(envelope, { content: r.content, type: "final" });
        else Object.assign(envelope, { type: "final", content: r.content });
        const json = r.ascii
          ? stringifyAscii(envelope, r.indent)
          : JSON.stringify(envelope, null, r.indent);
        const think = r.think === undefined ? "" : `<think>${r.think}</think>\n`;
        const text = `${r.lead}${think}${r.fence}${json}${r.fence ? "\n```" : ""}`;
        const { outputs, ex } = feed(cutText(text, points));
        assert.equal(outputs.join(""), r.content);
        assert.equal(ex.emitted, r.content);
        assert.equal(ex.state, "final");
        assert.equal(ex.contentComplete, true);
        for (const o of outputs) assert.ok(o.isWellFormed());
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  test("a tool_call reply, any cuts: nothing is ever returned and the state is not_final", () => {
    fc.assert(
      fc.property(content, fc.boolean(), fc.boolean(), cuts, (s, reversed, ascii, points) => {
        const envelope = reversed
          ? { arguments: { content: s }, content: s, tool: "x", type: "tool_call" }
          : { type: "tool_call", tool: "x", arguments: { content: s } };
        const json = ascii ? stringifyAscii(envelope) : JSON.stringify(envelope);
        const { outputs, ex } = feed(cutText(json, points));
        assert.ok(outputs.every((o) => o === ""), JSON.stringify(outputs));
        assert.equal(ex.emitted, "");
        assert.equal(ex.state, "not_final");
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  test("the decoder agrees with JSON.parse for any string, any cuts", () => {
    fc.assert(
      fc.property(content, fc.boolean(), cuts, (s, ascii, points) => {
        const body = (ascii ? stringifyAscii(s) : JSON.stringify(s)).slice(1) + "tail";
        const { text, dec } = decodeAll(cutText(body, points));
        assert.equal(text, s);
        assert.equal(dec.done, true);
        assert.equal(dec.rest, "tail");
      }),
      { seed: 7, numRuns: 300 },
    );
  });
});
