// Two small, real tools shared by the examples. Web standards only, so the edge example can
// use them in a worker too.
import * as z from "zod";
import { defineTool } from "../mod.ts";

/** Exact arithmetic on two numbers: models are bad at it, tools are not. */
export const calculate = defineTool({
  name: "calculate",
  description: "Exact arithmetic on two numbers. Use it for any calculation instead of guessing.",
  parameters: z.object({
    op: z.enum(["add", "subtract", "multiply", "divide", "power"]),
    a: z.number(),
    b: z.number(),
  }),
  execute: ({ op, a, b }): number => {
    switch (op) {
      case "add":
        return a + b;
      case "subtract":
        return a - b;
      case "multiply":
        return a * b;
      case "divide":
        // Thrown errors go back to the model as an observation; it can recover.
        if (b === 0) throw new RangeError("division by zero");
        return a / b;
      case "power":
        return a ** b;
    }
  },
});

/** The current date and time in a time zone, via Intl (no network needed). */
export const currentTime = defineTool({
  name: "current_time",
  description: "The current date and time in an IANA time zone such as Europe/Paris or Asia/Tokyo.",
  parameters: z.object({
    timeZone: z.string().describe("IANA time zone name, e.g. America/New_York"),
  }),
  // An unknown zone makes Intl throw a RangeError, which the model sees and can correct.
  execute: ({ timeZone }): string =>
    new Intl.DateTimeFormat("en-GB", { timeZone, dateStyle: "full", timeStyle: "long" })
      .format(new Date()),
});
