/**
 * A scripted model without HTTP: a {@link ChatModel} that answers call k with reply k of a
 * script and records every request, for testing an agent (or anything that takes a
 * `ChatModel`) without a server, a client or JSON on the wire.
 *
 * @module
 */
import type {
  CallOptions,
  ChatCompletionStream,
  ChatDelta,
  ChatModel,
  ChatRequest,
  ChatResult,
} from "../chat.ts";
import type { FakeReply } from "./fake_lmstudio.ts";
import {
  contentDeltas,
  reasoningDeltas,
  replyFinishReason,
  replyText,
  replyToolCalls,
  replyUsage,
} from "./_reply.ts";
import { countPromptTokens } from "./context_window.ts";
import { argumentPieces } from "./sse.ts";

/**
 * One entry of a model script: a reply, or an error the call rejects with (an `APIError`, a
 * `ConnectionError`, …: whatever the code under test must survive).
 */
export type ScriptedReply = FakeReply | Error;

/** One call the scripted model received. */
export interface ScriptedCall {
  /** Which method was called. */
  method: "stream" | "generate";
  /** The request, with its `messages` copied when the call was made (later pushes don't show). */
  request: ChatRequest;
}

/**
 * A {@link ChatModel} that plays a script.
 *
 * @example Assert on what the agent asked
 * ```ts
 * import { Agent } from "@ai-agent/orchestrator";
 * import { createScriptedModel, envelope } from "@ai-agent/orchestrator/testing";
 * const model = createScriptedModel([envelope.final("Hi")]);
 * await new Agent({ client: model }).run("Say hi");
 * console.log(model.requests[0]!.messages.at(-1)?.content); // "Say hi"
 * ```
 */
export interface ScriptedModel extends ChatModel {
  /** Every call, in order. */
  readonly calls: ScriptedCall[];
  /** The requests of {@link calls}, in order. */
  readonly requests: ChatRequest[];
}

/** Thrown by a scripted model called more often than its script has replies. */
export class ScriptExhaustedError extends Error {
  /** Always `"ScriptExhaustedError"`. */
  override name = "ScriptExhaustedError" as const;
  /** 0-based index of the call that found no reply. */
  readonly index: number;

  /**
   * Creates the error for call `index` of a script of `length` replies.
   *
   * @param details `index`: 0-based index of the call; `length`: how many replies the script had.
   */
  constructor(details: { index: number; length: number }) {
    const { index, length } = details;
    const replies = length === 1 ? "reply" : "replies";
    super(
      `Scripted model: no reply for request #${index + 1} (the script has ${length} ${replies}); ` +
        "add replies or check why the code called the model again",
    );
    this.index = index;
  }
}

/**
 * Creates a {@link ScriptedModel}: call k (`stream()` or `generate()`, counted together) gets
 * reply k, turned into deltas the way the fake server streams it (content cut by
 * `tokenize` unless `deltas` are given, reasoning first, tool-call arguments in pieces), and
 * a result with the usage the fake would report (`prompt_tokens` by `countPromptTokens`).
 * Replies may be a function of (request, index). An `Error` entry rejects that call. A
 * call past the end of the script throws {@link ScriptExhaustedError}. Only the content
 * fields of a reply apply: streaming and HTTP fields (`chunkBytes`, `delayMs`, `status`,
 * `rawBody`, `errorEvent`, faults…) need the fake server, and a reply that sets `status`,
 * `rawBody` or `errorEvent` is refused with a `TypeError` saying so. `request.signal` is
 * honoured: an aborted call rejects with its reason.
 *
 * @param replies The script.
 * @returns The model; its `calls` and `requests` record what it was asked.
 *
 * @example A tool call, then the answer, in native mode
 * ```ts
 * import { Agent, defineTool } from "@ai-agent/orchestrator";
 * import { createScriptedModel, native } from "@ai-agent/orchestrator/testing";
 * import * as z from "zod";
 *
 * const add = defineTool({
 *   name: "add",
 *   description: "Adds two numbers",
 *   parameters: z.object({ a: z.number(), b: z.number() }),
 *   execute: ({ a, b }) => a + b,
 * });
 * const model = createScriptedModel([
 *   native.toolCalls([{ name: "add", arguments: { a: 2, b: 3 } }]),
 *   native.final("5"),
 * ]);
 * const agent = new Agent({ client: model, tools: [add], protocol: "native" });
 * console.log((await agent.run("2 + 3?")).text, model.calls.length); // "5" 2
 * ```
 */
export function createScriptedModel(
  replies: readonly ScriptedReply[] | ((request: ChatRequest, index: number) => ScriptedReply),
): ScriptedModel {
  const calls: ScriptedCall[] = [];

  // Takes the next reply and records the request: when the call is made for generate(),
  // when iteration (or finalResult()) starts for stream(), as a server sees a request only
  // once it is sent.
  const take = (method: ScriptedCall["method"], request: ChatRequest): FakeReply => {
    request.signal?.throwIfAborted();
    const index = calls.length;
    const copy = { ...request, messages: request.messages.map((m) => ({ ...m })) };
    calls.push({ method, request: copy });
    const reply = typeof replies === "function"
      ? replies(copy, index)
      : index < replies.length
      ? replies[index]!
      : undefined;
    if (reply === undefined) {
      throw new ScriptExhaustedError({
        index,
        length: typeof replies === "function" ? index : replies.length,
      });
    }
    if (reply instanceof Error) throw reply;
    for (const field of ["status", "rawBody", "errorEvent"] as const) {
      if (reply[field] !== undefined) {
        throw new TypeError(
          `Scripted model: reply ${index} sets \`${field}\`, which needs HTTP; ` +
            "use createFakeLMStudio() for it, or script an Error",
        );
      }
    }
    return reply;
  };

  return {
    calls,
    get requests() {
      return calls.map((c) => c.request);
    },
    generate(request: ChatRequest, _options?: CallOptions): Promise<ChatResult> {
      try {
        return Promise.resolve(resultOf(take("generate", request), request));
      } catch (err) {
        return Promise.reject(err);
      }
    },
    stream(request: ChatRequest, _options?: CallOptions): ChatCompletionStream {
      return scriptedStream(() => take("stream", request), request);
    },
  };
}

function resultOf(reply: FakeReply, request: ChatRequest): ChatResult {
  const result: ChatResult = {
    text: replyText(reply),
    reasoning: reply.reasoning ?? "",
    finishReason: replyFinishReason(reply),
    model: request.model ?? "scripted-model",
  };
  const usage = replyUsage(reply, countPromptTokens(request));
  if (usage) {
    result.usage = {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      totalTokens: usage.total_tokens,
    };
  }
  const toolCalls = replyToolCalls(reply);
  if (toolCalls.length) result.toolCalls = toolCalls;
  return result;
}

/** The deltas of a reply, in the order the fake server streams them. */
function* deltasOf(reply: FakeReply): Generator<ChatDelta> {
  for (const reasoning of reasoningDeltas(reply) ?? []) yield { text: "", reasoning };
  for (const text of contentDeltas(reply)) yield { text, reasoning: "" };
  for (const [index, call] of replyToolCalls(reply).entries()) {
    yield {
      text: "",
      reasoning: "",
      toolCalls: [{ index, id: call.id, name: call.function.name, arguments: "" }],
    };
    for (const piece of argumentPieces(call.function.arguments)) {
      yield { text: "", reasoning: "", toolCalls: [{ index, arguments: piece }] };
    }
  }
}

function scriptedStream(take: () => FakeReply, request: ChatRequest): ChatCompletionStream {
  // The call is taken once, by whichever comes first: iteration or finalResult().
  let started: { reply: FakeReply; deltas: Generator<ChatDelta> } | { error: unknown } | undefined;
  const start = (): { reply: FakeReply; deltas: Generator<ChatDelta> } => {
    if (!started) {
      try {
        const reply = take();
        started = { reply, deltas: deltasOf(reply) };
      } catch (error) {
        started = { error };
      }
    }
    if ("error" in started) throw started.error;
    return started;
  };
  return {
    async *[Symbol.asyncIterator](): AsyncGenerator<ChatDelta> {
      for (const delta of start().deltas) {
        request.signal?.throwIfAborted();
        yield delta;
      }
    },
    finalResult(): Promise<ChatResult> {
      try {
        const { reply, deltas } = start();
        for (const _ of deltas) request.signal?.throwIfAborted();
        return Promise.resolve(resultOf(reply, request));
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
}
