// Issue 15, item 7: a new user's TypeScript setup. tests/consumer/ is a project with
// `tsc --strict`, `types: ["node"]` and no DOM lib; its app imports the library's sources, so
// a DOM-only type name anywhere in them (HeadersInit, RequestInfo, ReadableStreamReadResult)
// is an error here. Runs the TypeScript compiler in-process on each runtime.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import ts from "typescript";

const root = new URL("../", import.meta.url);
const path = (p: string) => decodeURIComponent(new URL(p, root).pathname);

describe("the consumer project (tsc --strict, @types/node only, no DOM lib)", () => {
  test("type-checks without errors", () => {
    const configPath = path("tests/consumer/tsconfig.json");
    const config = ts.readConfigFile(configPath, ts.sys.readFile);
    assert.equal(config.error, undefined);
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, path("tests/consumer/"));
    assert.deepEqual(parsed.options.lib, ["lib.es2023.d.ts"], "no DOM lib");
    assert.deepEqual(parsed.options.types, ["node"]);
    const program = ts.createProgram(parsed.fileNames, parsed.options);
    const errors = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file
        ? `${d.file.fileName.replace(path(""), "")}(${
          d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1
        })`
        : "";
      return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
    assert.deepEqual(errors, []);
    assert.ok(
      program.getSourceFiles().some((f) => f.fileName.endsWith("/src/agent.ts")),
      "the library's sources are checked too",
    );
  });

  test("run() and stream() declare their options optional (deno doc shows `options?`)", () => {
    const source = ts.createSourceFile(
      "agent.ts",
      ts.sys.readFile(path("src/agent.ts")) ?? "",
      ts.ScriptTarget.Latest,
    );
    const optional: Record<string, boolean> = {};
    const visit = (node: ts.Node) => {
      if (ts.isMethodDeclaration(node) && ts.isIdentifier(node.name)) {
        const name = node.name.text;
        if (name === "run" || name === "stream") {
          const options = node.parameters[1];
          optional[name] = options?.questionToken !== undefined && !options.initializer;
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    assert.deepEqual(optional, { run: true, stream: true });
  });
});
