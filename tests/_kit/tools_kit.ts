// The tools the agent tests share, each logging its calls into `executed`.
import * as z from "zod";
import { defineTool } from "../../mod.ts";

/** `add` and `multiply` (with results), `explode` (always throws); `executed` logs every call. */
export function makeTools() {
  const executed: string[] = [];
  const add = defineTool({
    name: "add",
    description: "Adds two numbers.",
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }) => {
      executed.push(`add(${a},${b})`);
      return a + b;
    },
  });
  const multiply = defineTool({
    name: "multiply",
    description: "Multiplies two numbers together.",
    parameters: z.object({ x: z.number(), y: z.number().int() }),
    execute: ({ x, y }) => {
      executed.push(`multiply(${x},${y})`);
      return { product: x * y };
    },
  });
  const explode = defineTool({
    name: "explode",
    description: "Always fails.",
    parameters: z.object({}),
    execute: () => {
      executed.push("explode()");
      throw new Error("boom");
    },
  });
  return { add, multiply, explode, executed };
}
