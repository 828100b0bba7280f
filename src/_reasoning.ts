// The one reasoning splitter: separates `<think>…</think>` blocks at the start of a reply from
// the answer that follows. Buffered parsing, the protocols' decisions and live streaming all use
// it, so for the same reply they agree on what is reasoning and what is answer.
//
// The rule: reasoning is any number of complete blocks at the very start of the reply, with
// whitespace around them. The answer starts at the first other character, and from there on
// everything is answer, a literal "<think>" included (a model explaining the tag). Leading
// whitespace is dropped. A block still open when the reply ends (cut off by the token limit)
// is reasoning, never answer: `unclosed` says so.
//
// Tags may be cut anywhere across deltas ("<th" + "ink>"): the splitter holds back the
// characters that may still turn out to be a tag, and never re-scans what it has read, so a
// reply of N characters costs O(N) however it is split.

const OPEN = "<think>";
const CLOSE = "</think>";

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
 * is answer text after all).
 */
export class ReasoningSplitter {
  // "lead": before the answer (whitespace and blocks); "think": inside a block; "answer".
  #state: "lead" | "think" | "answer" = "lead";
  // Characters of OPEN (in "lead") or CLOSE (in "think") matched at the end of the last delta.
  #matched = 0;
  #blocks: string[][] = [];

  /** Whether the answer has started (no more reasoning can follow). */
  get answering(): boolean {
    return this.#state === "answer";
  }

  /** The reasoning read so far: the blocks' trimmed, non-empty texts joined with "\n". */
  get reasoning(): string {
    return this.#blocks.map((parts) => parts.join("").trim()).filter((t) => t !== "").join("\n");
  }

  /** Whether the reply so far ends inside a block. */
  get unclosed(): boolean {
    return this.#state === "think";
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
      if (this.#matched > 0) {
        // Continue a partial OPEN from the last delta.
        const want = OPEN.slice(this.#matched);
        const got = delta.slice(at, at + want.length);
        if (want.startsWith(got) && got.length < want.length) {
          this.#matched += got.length;
          return "";
        }
        if (got === want) {
          at += want.length;
          this.#open();
          continue;
        }
        return this.#startAnswer(OPEN.slice(0, this.#matched) + delta.slice(at));
      }
      const c = delta.charCodeAt(at);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xfeff) {
        at++;
        continue;
      }
      if (c !== 0x3c /* < */) return this.#startAnswer(delta.slice(at));
      this.#matched = 1;
      at++;
    }
    return "";
  }

  /** Ends the reply: a partial tag still held is answer text. */
  end(): string {
    if (this.#state === "lead" && this.#matched > 0) {
      return this.#startAnswer(OPEN.slice(0, this.#matched));
    }
    return "";
  }

  #open(): void {
    this.#state = "think";
    this.#matched = 0;
    this.#blocks.push([]);
  }

  #startAnswer(text: string): string {
    this.#state = "answer";
    this.#matched = 0;
    return text;
  }

  /** Reads block text from `at`; returns where to continue. */
  #readThink(delta: string, at: number): number {
    const block = this.#blocks[this.#blocks.length - 1]!;
    if (this.#matched > 0) {
      const want = CLOSE.slice(this.#matched);
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
      // Not the tag after all: what matched was block text. "<" only starts CLOSE, so the
      // scan can go on at `at` itself.
      block.push(CLOSE.slice(0, this.#matched));
      this.#matched = 0;
    }
    const close = delta.indexOf(CLOSE, at);
    if (close >= 0) {
      if (close > at) block.push(delta.slice(at, close));
      this.#state = "lead";
      return close + CLOSE.length;
    }
    // A tail that may be the start of CLOSE waits for the next delta.
    const lt = delta.lastIndexOf("<");
    if (lt >= at && CLOSE.startsWith(delta.slice(lt))) {
      if (lt > at) block.push(delta.slice(at, lt));
      this.#matched = delta.length - lt;
    } else {
      block.push(delta.slice(at));
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
