import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { anySignal } from "../src/_abort.ts";

// Runs the fallback path too, by hiding AbortSignal.any the way edge-runtime lacks it.
for (const mode of ["native", "fallback"] as const) {
  describe(`anySignal (${mode})`, () => {
    const withMode = (fn: () => void) => () => {
      const original = AbortSignal.any;
      if (mode === "fallback") {
        // deno-lint-ignore no-explicit-any
        (AbortSignal as any).any = undefined;
      }
      try {
        fn();
      } finally {
        // deno-lint-ignore no-explicit-any
        (AbortSignal as any).any = original;
      }
    };

    test(
      "aborts with the first input's reason",
      withMode(() => {
        const a = new AbortController();
        const b = new AbortController();
        const combined = anySignal(a.signal, undefined, b.signal);
        assert.equal(combined.aborted, false);
        const reason = new Error("stop b");
        b.abort(reason);
        assert.equal(combined.aborted, true);
        assert.equal(combined.reason, reason);
        a.abort(new Error("later"));
        assert.equal(combined.reason, reason);
      }),
    );

    test(
      "is aborted at once when an input already is",
      withMode(() => {
        const a = new AbortController();
        const reason = new Error("already");
        a.abort(reason);
        const combined = anySignal(new AbortController().signal, a.signal);
        assert.equal(combined.aborted, true);
        assert.equal(combined.reason, reason);
      }),
    );

    test(
      "returns a lone input unchanged",
      withMode(() => {
        const a = new AbortController();
        assert.equal(anySignal(undefined, a.signal), a.signal);
      }),
    );
  });
}
