/** A PostgREST crash is reported, not hidden: the stack says so and /rest/v1 answers 502. */
import assert from "node:assert/strict";
import { startStack } from "../stack/start.ts";

Deno.test("stack: a PostgREST crash is logged, resolves `crashed`, and turns /rest/v1 into 502", async () => {
  const logs: string[] = [];
  const stack = await startStack({
    port: 0,
    dataDir: null,
    keysPath: null,
    log: (l) => logs.push(l),
  });
  try {
    const s = stack.status;
    const ok = await fetch(`${s.api_url}/rest/v1/posts`, { headers: { apikey: s.secret_key } });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();

    Deno.kill(stack.postgrestPid, "SIGKILL");
    const code = await stack.crashed;
    assert.notEqual(code, 0);
    assert.ok(logs.some((l) => /PostgREST exited unexpectedly/.test(l)), "the crash is in the log");

    const down = await fetch(`${s.api_url}/rest/v1/posts`, { headers: { apikey: s.secret_key } });
    assert.equal(down.status, 502);
    assert.equal((await down.json()).code, "upstream_error");
    const health = await fetch(`${s.api_url}/health`);
    assert.equal(health.status, 503);
    assert.equal((await health.json()).postgrest, "down");
  } finally {
    await stack.stop();
  }
});
