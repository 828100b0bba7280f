// The agent's step loop, as one async generator: call the model, buffer and validate its
// whole reply, then run a tool or emit the final answer as chunks. Yields StreamChunks and
// returns the AgentResult.
//
// Invariants (README "Streaming contract"):
// - tools run only after the whole reply is buffered and parsed, never on finish "length";
// - a violation gets one corrective retry per step; a second is a ProtocolError;
// - the last yielded chunk, and only it, has isFinal: true;
// - in live mode, text already yielded can never be taken back: any later failure of that
//   reply ends the run with LiveStreamError.
import type { CallOptions, ChatMessage, ChatModel, ChatParams, ChatResult, Usage } from "./chat.ts";
import { addUsage } from "./chat.ts";
import { ContextOverflowError, LiveStreamError, ProtocolError } from "./errors.ts";
import type {
  AgentEvent,
  AgentResult,
  StopReason,
  StreamChunk,
  TranscriptEntry,
} from "./agent_types.ts";
import { MAX_STEPS_FALLBACK_TEXT } from "./agent_types.ts";
import type { Decision, ExecutedCall, ReplyProtocol } from "./protocols/_reply_protocol.ts";
import { type AnyTool, runTool, type ToolOutcome } from "./tools.ts";
import { type Chunking, sliceText, TextSlicer } from "./slice_stream.ts";
import { clip } from "./_text.ts";
import { ContextBudget, type ContextSettings } from "./_context_budget.ts";
import { ReasoningSplitter, replyReasoning, splitReasoning } from "./_reasoning.ts";

/** Everything the loop needs, fixed per agent. */
export interface LoopConfig {
  model: ChatModel;
  registry: ReadonlyMap<string, AnyTool>;
  protocol: ReplyProtocol;
  params: ChatParams;
  context: ContextSettings;
  maxSteps: number;
  modelCall: "stream" | "generate";
  maxToolResultChars: number;
  chunking: Chunking;
  chunkDelayMs: number;
  delay: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Per-run settings. */
export interface LoopRun {
  prompt: string;
  history: ChatMessage[];
  signal: AbortSignal;
  /** Slice the answer into chunks (stream) or yield it whole (run). */
  chunked: boolean;
  live: boolean;
  emit: (event: AgentEvent) => void;
}

interface Reply extends ChatResult {
  /** Live mode: text already yielded to the user, in order. */
  delivered: string[];
  /** Live mode: the slices produced but not yet yielded (the last is held for isFinal). */
  held: string[];
  /** Live mode: the slicer, for flushing the tail once the reply is validated. */
  slicer?: TextSlicer;
}

const ZERO_USAGE: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };

/** What one run accumulates: the history, the summed usage, the context budget. */
interface RunState {
  history: ChatMessage[];
  /** The display transcript (AgentResult.transcript): no protocol turns. */
  transcript: TranscriptEntry[];
  usage: { total: Usage };
  budget: ContextBudget;
}

/** How the conversation ended: the answer to emit, and the live reply it may continue. */
interface Outcome {
  content: string;
  step: number;
  stopReason: StopReason;
  /** Live mode: the reply whose first slices are out already. */
  live: Reply | undefined;
  /** The answering reply's reasoning. */
  reasoning: string;
}

/** Runs one agent conversation. */
export async function* agentLoop(
  cfg: LoopConfig,
  run: LoopRun,
): AsyncGenerator<StreamChunk, AgentResult, undefined> {
  const history: ChatMessage[] = [...run.history, { role: "user", content: run.prompt }];
  const usage = { total: ZERO_USAGE };
  const budget = new ContextBudget(cfg.context, cfg.model, cfg.params);
  const transcript: TranscriptEntry[] = [{ type: "user", text: run.prompt }];
  const state: RunState = { history, transcript, usage, budget };
  const { content, step, stopReason, live, reasoning } = yield* converse(cfg, run, state);
  // The final answer's chunks are yielded here, not by a helper generator: each level of
  // `yield*` costs every chunk a resumption (measurable at 100k chunks).
  const slices = finalSlices(cfg, run, content, live);
  let first = !live?.delivered.length;
  let next = slices.next();
  if (next.done) next = { done: false, value: "" }; // an empty answer is still one final chunk
  while (!next.done) {
    const text = next.value;
    next = slices.next(); // one slice ahead, to know which is last
    if (!first && cfg.chunkDelayMs > 0) await cfg.delay(cfg.chunkDelayMs, run.signal);
    first = false;
    const chunk = { text, step, isFinal: next.done === true };
    run.emit({ type: "chunk", chunk });
    yield chunk;
  }
  const result: AgentResult = {
    text: content,
    steps: Math.min(step, cfg.maxSteps),
    stopReason,
    usage: usage.total,
    reasoning,
    messages: history,
    transcript,
  };
  transcript.push({ type: "assistant", step, text: content });
  run.emit({ type: "finish", result });
  return result;
}

/**
 * The step loop and the max-steps fallback, up to a validated final answer. Yields only live
 * chunks; the caller emits the rest. `usage.total` sums every model call.
 */
async function* converse(
  cfg: LoopConfig,
  run: LoopRun,
  state: RunState,
): AsyncGenerator<StreamChunk, Outcome, undefined> {
  const { emit } = run;
  const { protocol } = cfg;
  const { history, usage, budget } = state;

  for (let step = 1; step <= cfg.maxSteps; step++) {
    emit({ type: "step_start", step });
    for (let attempt = 0;; attempt++) {
      const reply = yield* callModel(cfg, run, state, step, { fallback: false });
      usage.total = addUsage(usage.total, reply.usage) ?? usage.total;
      const decision = decide(cfg, reply);
      const delivered = reply.delivered.length > 0;

      if (decision.kind === "violation") {
        if (delivered) throw liveFailure(reply, decision.reason);
        if (attempt >= 1) {
          throw new ProtocolError(
            `Step ${step}: the model broke the reply protocol twice in a row; the last ` +
              `reply: ${developerReason(decision.reason)} (the reply is err.rawText, the words ` +
              "the model was given err.reason)",
            { rawText: reply.text, reason: decision.reason, step },
          );
        }
        emit({ type: "protocol_retry", step, reason: decision.reason, rawText: reply.text });
        budget.units.push({ at: history.length, count: 2, step, level: 0 });
        // The rejected reply goes back without its reasoning: earlier turns' reasoning is
        // never sent back (README "Messy model output").
        const echo = clip(splitReasoning(reply.text).text, 4000);
        history.push({ role: "assistant", content: echo || "(empty reply)" });
        history.push(protocol.correction(decision.reason));
        continue;
      }
      if (decision.kind === "final") {
        history.push(protocol.finalTurn(decision.content));
        // Only the live reply goes on: the raw reply is as large as the answer, and nothing
        // may keep it reachable while the chunks are emitted.
        const live = reply.slicer ? reply : undefined;
        return {
          content: decision.content,
          step,
          stopReason: "final",
          live,
          reasoning: replyReasoning(reply),
        };
      }
      if (delivered) throw liveFailure(reply, "the reply turned out to be a tool call");
      const executed = await runTools(cfg, run, step, decision.calls);
      state.transcript.push(...executed.flatMap((e) => transcriptEntries(step, e)));
      const turn = protocol.toolTurn(reply, executed);
      budget.units.push({
        at: history.length,
        count: turn.length,
        step,
        // Only what re-rendering needs: the reply itself may be large.
        tools: { reply: { text: reply.text, toolCalls: reply.toolCalls }, calls: executed },
        level: 0,
      });
      history.push(...turn);
      break;
    }
  }

  // Max-steps fallback: one last call, told to answer now without tools.
  const step = cfg.maxSteps + 1;
  emit({ type: "max_steps", step });
  history.push(protocol.maxStepsMessage());
  const reply = yield* callModel(cfg, run, state, step, { fallback: true });
  usage.total = addUsage(usage.total, reply.usage) ?? usage.total;
  const decision = decide(cfg, reply);
  let content = MAX_STEPS_FALLBACK_TEXT;
  if (decision.kind === "final") content = decision.content;
  else if (reply.delivered.length) {
    throw liveFailure(
      reply,
      decision.kind === "violation" ? decision.reason : "the reply was not a final answer",
    );
  }
  history.push(protocol.finalTurn(content));
  const live = decision.kind === "final" && reply.slicer ? reply : undefined;
  const reasoning = decision.kind === "final" ? replyReasoning(reply) : "";
  return { content, step, stopReason: "max_steps", live, reasoning };
}

/**
 * A reply cut off by the token limit is never acted on, whatever the protocol; the rest is the
 * protocol's call.
 */
function decide(cfg: LoopConfig, reply: ChatResult): Decision {
  if (reply.finishReason === "length") {
    return {
      kind: "violation",
      reason: 'your reply was cut off by the token limit (finish_reason "length") before it ' +
        "was complete; reply again, shorter",
    };
  }
  return cfg.protocol.decide(reply);
}

/** One model call (stream or generate), with the protocol's request extras and live slicing. */
async function* callModel(
  cfg: LoopConfig,
  run: LoopRun,
  state: RunState,
  step: number,
  opts: { fallback: boolean },
): AsyncGenerator<StreamChunk, Reply, undefined> {
  const { protocol } = cfg;
  const { history, budget } = state;
  const system: ChatMessage = { role: "system", content: protocol.systemPrompt };
  const render = protocol.toolTurn.bind(protocol);
  const onRetry: CallOptions["onRetry"] = (info) =>
    run.emit({ type: "model_retry", step, ...info });
  // A server-reported overflow gets one harder compaction and one more try per call.
  let harder = false;

  for (;;) {
    const extras = protocol.requestExtras(opts.fallback);
    await budget.ready(run.signal);
    const { messages, bytes } = budget.fit(history, system, extras, render, step, run.emit, harder);
    const req = { ...cfg.params, ...extras, messages, signal: run.signal };
    try {
      const reply = cfg.modelCall === "generate"
        ? await generateReply(cfg, req, onRetry)
        : yield* streamReply(cfg, run, req, step, onRetry);
      run.emit({
        type: "model_response",
        step,
        text: reply.text,
        // One reasoning channel: the server's reasoning field, then inline blocks (<think>…).
        reasoning: replyReasoning(reply),
        finishReason: reply.finishReason,
        ...(reply.usage ? { usage: reply.usage } : {}),
      });
      budget.observe(bytes, reply.usage);
      return reply;
    } catch (err) {
      if (
        err instanceof ContextOverflowError && !harder &&
        await budget.overflowed(err, bytes, run.signal)
      ) {
        harder = true;
        continue;
      }
      const notice = protocol.rejected(err, extras);
      if (notice === undefined) throw err;
      run.emit({ type: "response_format_unsupported", step, message: notice });
    }
  }
}

async function generateReply(
  cfg: LoopConfig,
  req: Parameters<ChatModel["generate"]>[0],
  onRetry: CallOptions["onRetry"],
): Promise<Reply> {
  const result = await cfg.model.generate(req, { onRetry });
  return { ...result, delivered: [], held: [] };
}

async function* streamReply(
  cfg: LoopConfig,
  run: LoopRun,
  req: Parameters<ChatModel["stream"]>[0],
  step: number,
  onRetry: CallOptions["onRetry"],
): AsyncGenerator<StreamChunk, Reply, undefined> {
  const live = run.live && run.chunked ? cfg.protocol.live() : undefined;
  const slicer = live ? new TextSlicer({ chunking: cfg.chunking }) : undefined;
  const delivered: string[] = [];
  const held: string[] = [];
  const stream = cfg.model.stream(req, { onRetry });
  // Inline reasoning blocks in the content stream out as model_delta reasoning, as they arrive.
  const inline = new ReasoningSplitter();
  try {
    for await (const delta of stream) {
      if (!inline.answering && delta.text !== "") inline.push(delta.text);
      const reasoning = delta.reasoning + inline.takeReasoning();
      run.emit({ type: "model_delta", step, text: delta.text, reasoning });
      if (!live || delta.text === "") continue;
      const text = live.push(delta.text);
      if (text === "") continue;
      held.push(...slicer!.push(text));
      // Keep the newest slice back: it may turn out to be the last one (isFinal).
      while (held.length > 1) {
        if (delivered.length) await cfg.delay(cfg.chunkDelayMs, run.signal);
        const slice = held.shift()!;
        delivered.push(slice);
        const chunk = { text: slice, step, isFinal: false };
        run.emit({ type: "chunk", chunk });
        yield chunk;
      }
    }
    const result = await stream.finalResult();
    return { ...result, delivered, held, slicer };
  } catch (err) {
    if (delivered.length && !run.signal.aborted) {
      throw new LiveStreamError(
        `The model's reply failed after ${delivered.join("").length} characters of the final ` +
          `answer were already streamed: ${(err as Error).message}`,
        { deliveredText: delivered.join(""), cause: err },
      );
    }
    throw err;
  }
}

/**
 * The final answer's slices: the whole text (run), its slices, lazily (stream: an array of
 * every slice would hold about three times the answer), or the rest of a live reply.
 */
function finalSlices(
  cfg: LoopConfig,
  run: LoopRun,
  content: string,
  live: Reply | undefined,
): Iterator<string, void, undefined> {
  if (!run.chunked) return [content].values();
  if (live && live.slicer && (live.delivered.length || live.held.length)) {
    // Part of the answer is out already. The rest is held + the slicer's tail, and the whole
    // must equal the validated content.
    const rest = [...live.held, ...live.slicer.flush()];
    const shown = live.delivered.join("");
    if (shown + rest.join("") !== content) {
      throw new LiveStreamError(
        "Live streaming emitted text that differs from the validated final answer",
        { deliveredText: shown },
      );
    }
    return rest.values();
  }
  return sliceText(content, { chunking: cfg.chunking });
}

/** Runs the calls of one step in parallel; every outcome is also an event. */
async function runTools(
  cfg: LoopConfig,
  run: LoopRun,
  step: number,
  calls: Extract<Decision, { kind: "tools" }>["calls"],
): Promise<ExecutedCall[]> {
  return await Promise.all(calls.map(async (call, i): Promise<ExecutedCall> => {
    const callId = call.id || `step${step}_${i}`;
    run.emit({ type: "tool_call", step, tool: call.name, arguments: call.args, callId });
    let outcome: ToolOutcome;
    if (call.argsError !== undefined) {
      outcome = {
        ok: false,
        tool: call.name,
        args: call.args,
        kind: "invalid_arguments",
        error: call.argsError,
        durationMs: 0,
      };
    } else {
      outcome = await runTool(cfg.registry, call.name, call.args, {
        signal: run.signal,
        step,
        callId,
        maxResultChars: cfg.maxToolResultChars,
      });
    }
    if (outcome.ok) {
      run.emit({
        type: "tool_result",
        step,
        tool: call.name,
        callId,
        output: outcome.output,
        durationMs: outcome.durationMs,
      });
    } else {
      run.emit({
        type: "tool_error",
        step,
        tool: call.name,
        callId,
        kind: outcome.kind,
        error: outcome.error,
        durationMs: outcome.durationMs,
      });
    }
    return { call, callId, outcome };
  }));
}

/**
 * A violation's reason as a developer reads it: its first sentence, without the instructions
 * that follow it for the model ("Reply with…", "Use {…}").
 */
function developerReason(reason: string): string {
  const first = reason.split(/(?<=[.;])\s+(?=Reply |Use |Either |Call )/)[0]!;
  return clip(first.replace(/[.;]\s*$/, ""), 300);
}

function liveFailure(reply: Reply, reason: string): LiveStreamError {
  const shown = reply.delivered.join("");
  return new LiveStreamError(
    `The model's reply failed after ${shown.length} characters of the final answer were ` +
      `already streamed: ${reason}`,
    { deliveredText: shown },
  );
}

/** A tool call and its outcome as transcript entries. */
function transcriptEntries(step: number, e: ExecutedCall): TranscriptEntry[] {
  const { call, callId, outcome } = e;
  const tool = call.name;
  return [
    { type: "tool_call", step, tool, callId, arguments: call.args },
    outcome.ok
      ? { type: "tool_result", step, tool, callId, output: outcome.output }
      : { type: "tool_error", step, tool, callId, kind: outcome.kind, error: outcome.error },
  ];
}
