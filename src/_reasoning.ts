// The one reasoning splitter: separates reasoning blocks at the start of a reply from the answer
// that follows. Buffered parsing, the protocols' decisions, live streaming and the loop's
// reasoning events all use it, so for the same reply they agree on what is reasoning and what
// is answer.
//
// The rule: reasoning is any number of complete blocks at the very start of the reply, with
// whitespace around them. The answer starts at the first other character, and from there on
// everything is answer, a literal "<think>" included (a model explaining the tag). Leading
// whitespace is dropped. A block still open when the reply ends (cut off by the token limit)
// is reasoning, never answer: `unclosed` says so.
//
// Block formats (REASONING_BLOCKS), as the models' chat templates write them:
//   <think>…</think>              Qwen3, QwQ, DeepSeek-R1, GLM-4.5, MiniMax-M2, ERNIE thinking
//   <thinking>…</thinking>        fine-tunes trained on Claude-style traces
//   <thought>…</thought>          fine-tunes and agents that use the tag
//   <seed:think>…</seed:think>    ByteDance Seed-OSS
//   [THINK]…[/THINK]              Mistral Magistral (mistral-common SpecialTokens.begin_think)
//   ◁think▷…◁/think▷              Kimi-VL thinking
//   <|START_THINKING|>…<|END_THINKING|>   Cohere Command A Reasoning
//   <|channel|>analysis<|message|>…<|end|>   gpt-oss harmony, when the server passes it raw
// and markers that only announce the answer (ANSWER_MARKERS), skipped in the same place:
// harmony's `<|start|>assistant<|channel|>final<|message|>` and Cohere's `<|START_RESPONSE|>`.
//
// Not supported: a reply whose template opened `<think>` in the prompt (DeepSeek-R1 style), so
// that the content starts with reasoning and only `</think>` appears. Telling that reasoning
// from an answer needs the whole reply, so live mode could never show such an answer, and an
// answer that explains the tag would be cut. Servers parse it themselves (LM Studio's reasoning
// section parsing, llama.cpp's `--reasoning-format deepseek`) into `reasoning_content`.
//
// Tags may be cut anywhere across deltas ("<th" + "ink>"): the splitter holds back the
// characters that may still turn out to be a tag, and never re-scans what it has read, so a
// reply of N characters costs O(N) however it is split.

/** One reasoning block format: its opening and closing tag. */
export interface ReasoningBlock {
  open: string;
  close: string;
}

/**
 * The reasoning blocks the splitter knows. No opening tag is a prefix of another, and no
 * closing tag contains its own first character again (the close matcher relies on it).
 */
export const REASONING_BLOCKS: readonly ReasoningBlock[] = [
  { open: "<think>", close: "</think>" },
  { open: "<thinking>", close: "</thinking>" },
  { open: "<thought>", close: "</thought>" },
  { open: "<seed:think>", close: "</seed:think>" },
  { open: "[THINK]", close: "[/THINK]" },
  { open: "◁think▷", close: "◁/think▷" },
  { open: "<|START_THINKING|>", close: "<|END_THINKING|>" },
  { open: "<|channel|>analysis<|message|>", close: "<|end|>" },
  { open: "<|start|>assistant<|channel|>analysis<|message|>", close: "<|end|>" },
];

/** Markers that announce the answer; skipped like whitespace before it. */
export const ANSWER_MARKERS: readonly string[] = [
  "<|start|>assistant<|channel|>final<|message|>",
  "<|channel|>final<|message|>",
  "<|START_RESPONSE|>",
];

// Everything the lead state may match: a block's opening tag (index into REASONING_BLOCKS) or
// an answer marker (-1).
const LEAD: readonly { tag: string; block: number }[] = [
  ...REASONING_BLOCKS.map((b, block) => ({ tag: b.open, block })),
  ...ANSWER_MARKERS.map((tag) => ({ tag, block: -1 })),
];

const WHITESPACE = /\s/;

/** The answer part and the reasoning of a whole reply. */
export interface SplitReply {
  /** The reply after the leading reasoning blocks and whitespace. */
  text: string;
  /** The blocks' trimmed, non-empty inner texts, joined with "\n". */
  reasoning: string;
  /** The reply ended inside a block. */
  unclosed: boolean;
}

/**
 * Incremental splitter for one reply. `push()` each content delta; it returns the answer text
 * that is now certain. `end()` returns what was held back (a partial tag that never completed
 * is answer text after all). `takeReasoning()` returns the reasoning read since the last call,
 * for streaming it: all pieces joined equal `reasoning`.
 */
export class ReasoningSplitter {
  // "lead": before the answer (whitespace, blocks, answer markers); "think": inside a block.
  #state: "lead" | "think" | "answer" = "lead";
  // Lead: characters read that may still be the start of a tag. Think: the number of
  // characters of the block's closing tag matched at the end of the last delta.
  #pending = "";
  #matched = 0;
  #close = "";
  // Reasoning out so far, and how much of it takeReasoning() has handed out.
  #out: string[] = [];
  #taken = 0;
  // Inside a block: whether non-whitespace text was seen, and trailing whitespace held back
  // (a block's text is trimmed, so whitespace is only reasoning once more text follows).
  #blockText = false;
  #space = "";

  /** Whether the answer has started (no more reasoning can follow). */
  get answering(): boolean {
    return this.#state === "answer";
  }

  /** The reasoning read so far: the blocks' trimmed, non-empty texts joined with "\n". */
  get reasoning(): string {
    return this.#out.join("");
  }

  /** Whether the reply so far ends inside a block. */
  get unclosed(): boolean {
    return this.#state === "think";
  }

  /** The reasoning read since the last call (`""` if none). */
  takeReasoning(): string {
    if (this.#taken === this.#out.length) return "";
    const piece = this.#out.slice(this.#taken).join("");
    this.#taken = this.#out.length;
    return piece;
  }

  /**
   * Reads the next delta.
   *
   * @returns Answer text now known to be answer ("" while reasoning or a possible tag is read).
   */
  push(delta: string): string {
    if (this.#state === "answer") return delta;
    let at = 0;
    while (at < delta.length) {
      if (this.#state === "think") {
        at = this.#readThink(delta, at);
        continue;
      }
      // "lead"
      const c = delta[at]!;
      if (this.#pending === "") {
        if (WHITESPACE.test(c) || c === "\ufeff") {
          at++;
          continue;
        }
      }
      const candidate = this.#pending + c;
      const lead = LEAD.find((l) => l.tag.startsWith(candidate));
      if (lead === undefined) return this.#startAnswer(this.#pending + delta.slice(at));
      at++;
      if (lead.tag.length > candidate.length) {
        this.#pending = candidate;
        continue;
      }
      this.#pending = "";
      if (lead.block >= 0) this.#open(REASONING_BLOCKS[lead.block]!.close);
    }
    return "";
  }

  /** Ends the reply: a partial tag still held is answer text. */
  end(): string {
    if (this.#state === "lead" && this.#pending !== "") return this.#startAnswer(this.#pending);
    return "";
  }

  #open(close: string): void {
    this.#state = "think";
    this.#close = close;
    this.#matched = 0;
    this.#blockText = false;
    this.#space = "";
  }

  #startAnswer(text: string): string {
    this.#state = "answer";
    this.#pending = "";
    return text;
  }

  /** Block text, trimmed on the fly: leading whitespace dropped, trailing held back. */
  #think(text: string): void {
    let start = 0;
    if (!this.#blockText) {
      while (start < text.length && WHITESPACE.test(text[start]!)) start++;
      if (start === text.length) return;
      this.#blockText = true;
      if (this.#out.length > 0) this.#out.push("\n");
    }
    let end = text.length;
    while (end > start && WHITESPACE.test(text[end - 1]!)) end--;
    if (end === start) {
      this.#space += text.slice(start);
      return;
    }
    if (this.#space !== "") {
      this.#out.push(this.#space);
      this.#space = "";
    }
    this.#out.push(text.slice(start, end));
    if (end < text.length) this.#space = text.slice(end);
  }

  /** Reads block text from `at`; returns where to continue. */
  #readThink(delta: string, at: number): number {
    const close = this.#close;
    if (this.#matched > 0) {
      const want = close.slice(this.#matched);
      const got = delta.slice(at, at + want.length);
      if (got === want) {
        this.#state = "lead";
        this.#matched = 0;
        return at + want.length;
      }
      if (want.startsWith(got)) {
        this.#matched += got.length;
        return delta.length;
      }
      // Not the tag after all: what matched was block text. The closing tag's first character
      // occurs only at its start, so the scan can go on at `at` itself.
      this.#think(close.slice(0, this.#matched));
      this.#matched = 0;
    }
    const found = delta.indexOf(close, at);
    if (found >= 0) {
      if (found > at) this.#think(delta.slice(at, found));
      this.#state = "lead";
      return found + close.length;
    }
    // A tail that may be the start of the closing tag waits for the next delta.
    const lt = delta.lastIndexOf(close[0]!);
    if (lt >= at && close.startsWith(delta.slice(lt))) {
      if (lt > at) this.#think(delta.slice(at, lt));
      this.#matched = delta.length - lt;
    } else {
      this.#think(delta.slice(at));
    }
    return delta.length;
  }
}

/** Splits a whole reply (the same rule as {@link ReasoningSplitter}, in one call). */
export function splitReasoning(reply: string): SplitReply {
  const splitter = new ReasoningSplitter();
  const text = splitter.push(reply) + splitter.end();
  return { text, reasoning: splitter.reasoning, unclosed: splitter.unclosed };
}

/**
 * All the reasoning of one reply: what the server sent separately (`reasoning_content` /
 * `reasoning`), then the inline blocks at the start of its text, joined with "\n".
 */
export function replyReasoning(reply: { text: string; reasoning: string }): string {
  const inline = splitReasoning(reply.text).reasoning;
  if (inline === "") return reply.reasoning;
  return reply.reasoning === "" ? inline : `${reply.reasoning}\n${inline}`;
}
