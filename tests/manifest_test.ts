import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const read = (name: string) =>
  JSON.parse(readFileSync(new URL(`../${name}`, import.meta.url), "utf8"));

// deno publish reads deno.json first, JSR users read jsr.json: they must never drift.
describe("package manifests", () => {
  const deno = read("deno.json");
  const jsr = read("jsr.json");
  const pkg = read("package.json");

  test("deno.json and jsr.json agree on name, version, exports and publish list", () => {
    assert.equal(deno.name, "@ai-agent/orchestrator");
    assert.equal(jsr.name, deno.name);
    assert.equal(jsr.version, deno.version);
    assert.deepEqual(jsr.exports, deno.exports);
    assert.deepEqual(jsr.publish, deno.publish);
  });

  test("exports are the library, the test kit and the MCP entry point", () => {
    assert.deepEqual(deno.exports, {
      ".": "./mod.ts",
      "./testing": "./testing.ts",
      "./mcp": "./mcp.ts",
    });
  });

  test("package.json has the same version and the same npm dependencies as deno.json", () => {
    assert.equal(pkg.version, deno.version);
    for (const [name, range] of Object.entries(pkg.dependencies as Record<string, string>)) {
      assert.equal(deno.imports[name], `npm:${name}@${range}`, `deno.json imports ${name}`);
    }
  });

  test("the published files leave out tests, benchmarks and examples", () => {
    const include: string[] = deno.publish.include;
    for (const pattern of include) assert.doesNotMatch(pattern, /^(tests|bench|examples)\b/);
    assert.ok(include.includes("mod.ts") && include.includes("LICENSE"));
  });
});
