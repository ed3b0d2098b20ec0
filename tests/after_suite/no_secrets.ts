/**
 * Runs after the whole suite (scripts/test.ts): nothing secret reached a log line of the
 * stack or the functions, and no response body of the run held a key, a secret or (outside
 * the endpoints that issue tokens) a JWT. Not named *_test.ts, so `deno test tests/` does
 * not pick it up before the suite has produced what it checks.
 */
import assert from "node:assert/strict";

const logPath = Deno.env.get("EDGE_STACK_LOG");
const secrets: string[] = JSON.parse(Deno.env.get("EDGE_STACK_SECRETS") ?? "[]");
const scanned = Number(Deno.env.get("EDGE_STACK_SCANNED") ?? "0");

Deno.test({
  name: "after suite: responses were scanned and none leaked a key, secret or JWT",
  ignore: !logPath,
  async fn() {
    const log = await Deno.readTextFile(logPath!);
    assert.ok(scanned > 1000, `the gateway scanned ${scanned} responses`);
    const leaks = log.split("\n").filter((l) => l.startsWith("[leak]"));
    assert.deepEqual(leaks.slice(0, 10), []);
  },
});

Deno.test({
  name:
    "after suite: no token, key or secret appears in any log line of the stack or the functions",
  ignore: !logPath,
  async fn() {
    const log = await Deno.readTextFile(logPath!);
    assert.ok(secrets.length >= 9 && secrets.every((s) => s.length >= 16));
    for (const [i, secret] of secrets.entries()) {
      assert.ok(!log.includes(secret), `secret #${i} in the log`);
    }
    const jwt = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;
    const line = log.split("\n").find((l) => jwt.test(l));
    assert.equal(line, undefined, "no JWT in the log");
    assert.ok(!/sb_(secret|publishable)_[0-9a-f]{8,}/.test(log), "no API key in the log");
  },
});
