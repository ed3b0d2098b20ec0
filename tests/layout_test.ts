/**
 * Functions as the Supabase CLI lays them out (issue 20): `supabase/functions/<name>/` with or
 * without a block, and any folder through `[functions.<name>] entrypoint`; each function's own
 * deno.json honoured (the host's code never resolving through it); what deploy would skip or
 * break named; config.toml holding only CLI keys.
 */
import assert from "node:assert/strict";
import { readFunctionsLayout } from "../stack/runtime/functions_config.ts";
import { startStack } from "../stack/start.ts";
import { E2E } from "./helpers/stack.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

async function project(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "edge-layout-" });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${path}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
  return dir;
}

const HELLO = `export default { fetch: () => new Response("hi") };\n`;

Deno.test("layout: both layouts are found; what deploy would skip or break is named with its fix", async () => {
  const dir = await project({
    "supabase/config.toml": `
[functions.b]
entrypoint = "../functions/b/index.ts"
verify_jwt = false
[functions.d]
entrypoint = "../functions/d/index.ts"
[functions.e]
verify_jwt = false
[edge_runtime.secrets]
PLAIN = "value"
FROM_ENV = "env(LAYOUT_TEST_SECRET)"
[functions.f]
entrypoint = "../functions/f/index.ts"
static_files = ["../functions/f/pages/*.html"]
`,
    "supabase/functions/a/index.ts": HELLO,
    "supabase/functions/a/deno.json": `{"imports": {}}`,
    "supabase/functions/_shared/util.ts": HELLO,
    "functions/b/index.ts": HELLO,
    "functions/c/index.ts": HELLO,
    "functions/f/index.ts": HELLO,
    "functions/f/pages/one.html": "<p>1</p>",
    "functions/f/pages/two.html": "<p>2</p>",
    "functions/f/pages/skip.txt": "no",
  });
  try {
    const layout = readFunctionsLayout({
      configToml: `${dir}/supabase/config.toml`,
      projectImportMap: `${ROOT}/import_map.json`,
      env: (name) => (name === "LAYOUT_TEST_SECRET" ? "secret-from-env" : undefined),
    });
    assert.deepEqual([...layout.functions.keys()].sort(), ["a", "b", "f"]);
    const a = layout.functions.get("a")!;
    assert.equal(a.verifyJwt, true, "no block: the CLI's default");
    assert.equal(a.importMap, `${dir}/supabase/functions/a/deno.json`, "its own deno.json");
    assert.equal(layout.functions.get("b")!.importMap, `${ROOT}/import_map.json`);
    assert.equal(layout.functions.get("b")!.verifyJwt, false);
    assert.deepEqual(layout.functions.get("f")!.staticFiles.sort(), [
      `${dir}/functions/f/pages/one.html`,
      `${dir}/functions/f/pages/two.html`,
    ]);
    assert.deepEqual(layout.secrets, { PLAIN: "value", FROM_ENV: "secret-from-env" });
    const problems = layout.misfits.map((m) => `${m.name}: ${m.problem} -> ${m.fix}`).sort();
    assert.equal(problems.length, 3, problems.join("\n"));
    assert.match(
      problems[0]!,
      /^c: .*functions\/c\/index\.ts has no \[functions\.c\] block: supabase functions deploy skips it -> add \[functions\.c\] with entrypoint = "\.\.\/functions\/c\/index\.ts"$/,
    );
    assert.match(problems[1]!, /^d: \[functions\.d\] has no entrypoint file/);
    assert.match(
      problems[2]!,
      /^e: \[functions\.e\] has no entrypoint file.*create supabase\/functions\/e\/index\.ts/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("layout: the edge runtime's limits are not config.toml keys (the Go CLI refuses them)", async () => {
  const dir = await project({
    "supabase/config.toml": "[edge_runtime]\ncpu_time_limit_ms = 100\n",
  });
  try {
    assert.throws(
      () =>
        readFunctionsLayout({
          configToml: `${dir}/supabase/config.toml`,
          projectImportMap: `${ROOT}/import_map.json`,
        }),
      /edge_runtime\.cpu_time_limit_ms is not a Supabase CLI key .*set FUNCTIONS_CPU_TIME_LIMIT_MS/,
    );
    const layout = readFunctionsLayout({
      configToml: `${ROOT}/supabase/config.toml`,
      projectImportMap: `${ROOT}/import_map.json`,
      env: (name) =>
        ({ FUNCTIONS_CPU_TIME_LIMIT_MS: "700", FUNCTIONS_MEMORY_LIMIT_MB: "128" })[name],
    });
    assert.deepEqual(
      [layout.runtime.cpuTimeMs, layout.runtime.memoryMb, layout.runtime.wallClockMs],
      [700, 128, 400_000],
    );
    assert.deepEqual(layout.misfits, [], "this project deploys as it runs");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "layout: a supabase/functions function with its own deno.json (JSR types, @supabase/server) answers",
  ...E2E,
  async fn() {
    const dir = await project({
      "supabase/config.toml": `[functions.own-map]\nverify_jwt = false\n`,
      "supabase/functions/own-map/deno.json": JSON.stringify({
        imports: {
          "@supabase/functions-js": "jsr:@supabase/functions-js@^2",
          "@supabase/server": "npm:@supabase/server@1.8.1",
        },
      }),
      // As a CLI-made function starts: the runtime's types from JSR, then @supabase/server.
      "supabase/functions/own-map/index.ts": `import "@supabase/functions-js/edge-runtime.d.ts";
import { withSupabase } from "@supabase/server";
export default {
  fetch: withSupabase({ auth: "publishable" }, () => Response.json({ served: "own-map" })),
};
`,
      "supabase/functions/no-block/index.ts":
        `export default { fetch: () => new Response("found") };\n`,
    });
    const logs: string[] = [];
    const stack = await startStack({
      port: 0,
      dataDir: null,
      keysPath: null,
      configToml: `${dir}/supabase/config.toml`,
      log: (line) => logs.push(line),
    });
    try {
      const s = stack.status;
      const r = await fetch(`${s.functions_url}/own-map`, {
        headers: { apikey: s.publishable_key },
      });
      assert.equal(
        r.status,
        200,
        `${await r.clone().text()}\n${logs.filter((l) => l.startsWith("[fn")).join("\n")}`,
      );
      assert.deepEqual(await r.json(), { served: "own-map" });
      // No block: verify_jwt defaults to true, as the CLI deploys it.
      const refused = await fetch(`${s.functions_url}/no-block`);
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      const ok = await fetch(`${s.functions_url}/no-block`, {
        headers: { authorization: `Bearer ${s.anon_key}` },
      });
      assert.equal(await ok.text(), "found");
    } finally {
      await stack.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
