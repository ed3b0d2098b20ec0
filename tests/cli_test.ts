/**
 * The README's session, as a new user runs it: `deno task start`, `deno task status --json`,
 * `deno task token --sub <uuid>`, then curl a function and /rest/v1 as that user; Ctrl-C;
 * data persists across restarts and `--reset` empties it. Runs in a throwaway state dir
 * (EDGE_STACK_DIR) on a free port, so it never touches a developer's own stack.
 */
import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { freePort } from "../stack/db/ports.ts";
import { startCli, task } from "./helpers/cli.ts";

const STATUS_KEYS = [
  "api_url",
  "functions_url",
  "anon_key",
  "service_role_key",
  "publishable_key",
  "secret_key",
  "jwt_secret",
  "jwks_url",
  "db_url",
  "inbox_url",
];

function run(stateDir: string, verb: string, args: string[]) {
  return task([verb, ...args], { EDGE_STACK_DIR: stateDir });
}

function start(stateDir: string, port: number, dbPort: number, extra: string[] = []) {
  return startCli(stateDir, { port, dbPort, extra });
}

Deno.test("cli: start, status --json, token, curl as the user, Ctrl-C, restart, --reset", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "edge-stack-" });
  const port = await freePort();
  const dbPort = await freePort();
  let stack = await start(stateDir, port, dbPort);
  try {
    assert.match(stack.printed, new RegExp(`API URL: http://127\\.0\\.0\\.1:${port}`));
    assert.match(stack.printed, /Publishable key: sb_publishable_/);

    const status = await run(stateDir, "status", ["--json"]);
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout);
    assert.deepEqual(Object.keys(s).sort(), [...STATUS_KEYS].sort());

    const sub = crypto.randomUUID();
    const token = await run(stateDir, "token", ["--sub", sub, "--email", "cli-user@example.com"]);
    assert.equal(token.code, 0, token.stderr);
    const lines = token.stdout.trim().split("\n");
    assert.equal(lines.length, 1, "the token is the only thing on stdout");
    const jwt = lines[0]!;
    assert.equal(decodeJwt(jwt).sub, sub);
    assert.equal(decodeJwt(jwt).email, "cli-user@example.com");
    assert.equal(decodeProtectedHeader(jwt).alg, "ES256");

    const hs = await run(stateDir, "token", ["--sub", sub, "--alg", "HS256", "--exp", "60"]);
    assert.equal(decodeProtectedHeader(hs.stdout.trim()).alg, "HS256");
    const claims = decodeJwt(hs.stdout.trim());
    assert.equal(claims.exp! - claims.iat!, 60);

    const me = await fetch(`${s.functions_url}/me`, {
      headers: { authorization: `Bearer ${jwt}` },
    });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).id, sub);
    // The call is in the stack's log file, under its request id, and `logs me` finds it.
    const requestId = me.headers.get("sb-request-id")!;
    const logs = await run(stateDir, "logs", ["me", "--lines", "20"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(
      logs.stdout,
      new RegExp(`\\[fn:me\\] \\[${requestId}\\] GET /functions/v1/me 200`),
    );
    assert.doesNotMatch(logs.stdout, /\[postgrest\]/, "only the function's lines");
    const created = await fetch(`${s.api_url}/rest/v1/posts`, {
      method: "POST",
      headers: {
        apikey: s.publishable_key,
        authorization: `Bearer ${jwt}`,
        "content-type": "application/json",
        prefer: "return=representation",
      },
      body: JSON.stringify({ title: "persisted" }),
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();

    const badSub = await run(stateDir, "token", ["--sub", "not-a-uuid"]);
    assert.equal(badSub.code, 2);
    assert.match(badSub.stderr, /UUID/);
    assert.equal(badSub.stdout, "");
    assert.equal((await run(stateDir, "token", [])).code, 2);

    assert.equal(await stack.interrupt(), 0, "Ctrl-C stops cleanly");
    const after = await run(stateDir, "status", []);
    assert.equal(after.code, 1);
    assert.match(after.stderr, /not running/);

    stack = await start(stateDir, port, dbPort);
    const again = JSON.parse((await run(stateDir, "status", ["--json"])).stdout);
    assert.equal(again.secret_key, s.secret_key, "keys persist across restarts");
    assert.equal(again.db_url, s.db_url, "the database keeps its port across restarts");
    const kept = await fetch(`${s.api_url}/rest/v1/posts?select=title&title=eq.persisted`, {
      headers: { apikey: s.secret_key },
    });
    assert.deepEqual(await kept.json(), [{ title: "persisted" }], "data persists across restarts");
    await stack.interrupt();

    stack = await start(stateDir, port, dbPort, ["--reset"]);
    const empty = await fetch(`${s.api_url}/rest/v1/posts?select=title&order=id`, {
      headers: { apikey: s.secret_key },
    });
    assert.deepEqual(
      (await empty.json()).map((p: { title: string }) => p.title),
      ["Notes on the Analytical Engine", "A second post by Ada", "Compilers"],
      "--reset starts from a fresh database: migrations, then supabase/seed.sql only",
    );
  } finally {
    await stack.interrupt().catch(() => {});
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
});
