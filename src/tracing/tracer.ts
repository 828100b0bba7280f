/**
 * The OpenTelemetry tracer an agent accepts, typed structurally: a `Tracer` from
 * `@opentelemetry/api` fits, and the library never imports that package.
 *
 * @module
 */

/** Attribute values as OpenTelemetry accepts them. */
export type TraceAttributeValue = string | number | boolean | string[] | number[] | boolean[];

/** A span, as far as the agent uses one (an OpenTelemetry `Span` fits). */
export interface TraceSpan {
  /** Sets one attribute. */
  setAttribute(key: string, value: TraceAttributeValue): unknown;
  /** Adds a timestamped event. */
  addEvent(name: string, attributes?: Record<string, TraceAttributeValue>): unknown;
  /** `code` 2 is ERROR. */
  setStatus(status: { code: number; message?: string }): unknown;
  /** Adds an `exception` event. */
  recordException(exception: Error | string): unknown;
  /** Ends the span. */
  end(): void;
}

/** A context, as far as the agent passes one on (an OpenTelemetry `Context` fits). */
export interface TraceContext {
  /** Reads a value. */
  getValue(key: symbol): unknown;
  /** A new context with the value set. */
  setValue(key: symbol, value: unknown): TraceContext;
  /** A new context without the value. */
  deleteValue(key: symbol): TraceContext;
}

/**
 * An OpenTelemetry tracer (`trace.getTracer("my-app")` from `@opentelemetry/api`, or an SDK
 * provider's `getTracer`). The run's span starts in the active context, so a run inside your
 * own span nests under it.
 *
 * @example
 * ```ts
 * import type { AgentTracer } from "@ai-agent/orchestrator";
 * declare const tracer: AgentTracer; // trace.getTracer("my-app")
 * tracer.startSpan("work").end();
 * ```
 */
export interface AgentTracer {
  /** Starts a span; `context` carries the parent. */
  startSpan(
    name: string,
    options?: { kind?: number; attributes?: Record<string, TraceAttributeValue> },
    context?: TraceContext,
  ): TraceSpan;
}
