/**
 * The verbs of `deno task` as a user types them: help, bad input (one line, exit 2, never a
 * stack trace), and each happy path. Verbs that write into the project run against a scratch
 * copy (EDGE_PROJECT_ROOT); verbs that need a stack get one in a throwaway state dir.
 */
import assert from "node:assert/strict";
import { migrate, openDatabase } from "../stack/db/database.ts";
import { freePort } from "../stack/db/ports.ts";
import { startStack } from "../stack/start.ts";
import { E2E } from "./helpers/stack.ts";
import { startCli, task } from "./helpers/cli.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** A scratch project: README, config.toml, the migrations, the shared core. */
async function scratchProject(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "edge-cli-" });
  await Deno.mkdir(`${dir}/supabase/migrations`, { recursive: true });
  await Deno.mkdir(`${dir}/functions`, { recursive: true });
  await Deno.mkdir(`${dir}/tests`, { recursive: true });
  await Deno.copyFile(`${ROOT}/README.md`, `${dir}/README.md`);
  await Deno.copyFile(`${ROOT}/supabase/config.toml`, `${dir}/supabase/config.toml`);
  await Deno.copyFile(`${ROOT}/import_map.json`, `${dir}/import_map.json`);
  await Deno.copyFile(`${ROOT}/deno.json`, `${dir}/deno.json`);
  for (const entry of Deno.readDirSync(`${ROOT}/supabase/migrations`)) {
    await Deno.copyFile(
      `${ROOT}/supabase/migrations/${entry.name}`,
      `${dir}/supabase/migrations/${entry.name}`,
    );
  }
  await new Deno.Command("cp", { args: ["-r", `${ROOT}/functions/_shared`, `${dir}/functions/`] })
    .output();
  return dir;
}

const VERBS = [
  "start",
  "status",
  "stop",
  "new",
  "migration",
  "db",
  "gen-types",
  "token",
  "secrets",
  "logs",
];

Deno.test("cli: help lists every verb; every verb answers --help and does nothing else", async () => {
  const help = await task(["help"]);
  assert.equal(help.code, 0);
  for (const verb of [...VERBS, "test", "bench"]) {
    assert.match(help.stdout, new RegExp(`^  ${verb} `, "m"), `help lists ${verb}`);
  }
  const scratch = await scratchProject();
  try {
    for (const verb of VERBS) {
      const r = await task([verb, "--help"], { EDGE_PROJECT_ROOT: scratch });
      assert.equal(r.code, 0, `${verb} --help`);
      assert.match(r.stdout, new RegExp(`^usage: deno task ${verb}`), verb);
    }
    assert.deepEqual([...Deno.readDirSync(`${scratch}/functions`)].map((e) => e.name), ["_shared"]);
    for (const script of ["scripts/test.ts", "bench/run.ts"]) {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}/${script}`, "--help"],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(r.code, 0, script);
      assert.match(new TextDecoder().decode(r.stdout), /^usage: deno task (test|bench)/);
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("cli: bad input is one clear line and exit code 2, never a stack trace", async () => {
  const cases: [string[], RegExp][] = [
    [["nonsense"], /unknown verb "nonsense"/],
    [["token", "--bogus"], /Unknown option '--bogus'/],
    [["token", "--sub", "x"], /--sub must be a UUID/],
    [["token", "--sub", crypto.randomUUID(), "--exp=-10"], /--exp must be a whole number/],
    [["token", "--sub", crypto.randomUUID(), "--exp", "abc"], /--exp must be a whole number/],
    [["token", "--sub", crypto.randomUUID(), "--role", "postgres"], /--role must be one of/],
    [["start", "--port", "99999"], /--port must be a port number/],
    [["new", "9lives"], /invalid function name/],
    [["new"], /a function name is required/],
    [["migration", "new", "bad name!"], /invalid migration name/],
    [["migration", "fly"], /unknown subcommand "fly"/],
    [["db"], /a subcommand is required/],
    [["gen-types", "--schema"], /argument missing/],
  ];
  for (const [args, message] of cases) {
    const r = await task(args, { EDGE_STACK_DIR: "/nonexistent-edge-state" });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.doesNotMatch(r.stderr, /^\s+at /m, `${args.join(" ")}: no stack trace`);
  }
});

Deno.test({
  name: "cli: new makes a function that works through the stack; its name is checked",
  ...E2E,
  async fn() {
    const scratch = await scratchProject();
    try {
      const env = { EDGE_PROJECT_ROOT: scratch };
      const made = await task(["new", "hello-world"], env);
      assert.equal(made.code, 0, made.stderr);
      const config = await Deno.readTextFile(`${scratch}/supabase/config.toml`);
      assert.match(config, /\[functions\.hello-world\]\nenabled = true\nverify_jwt = false/);
      assert.match(await Deno.readTextFile(`${scratch}/README.md`), /^\| `hello-world` +\|/m);
      assert.ok(Deno.statSync(`${scratch}/tests/hello_world_test.ts`).isFile);
      // What new wrote passes CI's format check (the README table stays aligned).
      const check = await new Deno.Command(Deno.execPath(), {
        args: ["fmt", "--check", "README.md", "functions/hello-world", "tests/hello_world_test.ts"],
        cwd: scratch,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(check.success, new TextDecoder().decode(check.stderr));
      const again = await task(["new", "hello-world"], env);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already exists/);

      const logs: string[] = [];
      const stack = await startStack({
        port: 0,
        dataDir: null,
        keysPath: null,
        configToml: `${scratch}/supabase/config.toml`,
        log: (line) => logs.push(line),
      });
      try {
        const issued = await (await fetch(`${stack.status.api_url}/auth/v1/_local/token`, {
          method: "POST",
          headers: { apikey: stack.status.secret_key, "content-type": "application/json" },
          body: JSON.stringify({ sub: crypto.randomUUID() }),
        })).json();
        const r = await fetch(`${stack.status.functions_url}/hello-world`, {
          headers: { authorization: `Bearer ${issued.access_token}` },
        });
        const body = await r.json();
        assert.equal(r.status, 200, `${JSON.stringify(body)}\n${logs.join("\n")}`);
        assert.deepEqual(body, { id: issued.user_id, profile: null });
        assert.equal((await fetch(`${stack.status.functions_url}/hello-world`)).status, 401);
      } finally {
        await stack.stop();
      }
    } finally {
      await Deno.remove(scratch, { recursive: true });
    }
  },
});

Deno.test("cli: migration new writes a timestamped file; list shows disk against database", async () => {
  const scratch = await scratchProject();
  const state = await Deno.makeTempDir({ prefix: "edge-state-" });
  try {
    const env = { EDGE_PROJECT_ROOT: scratch, EDGE_STACK_DIR: state };
    const made = await task(["migration", "new", "add_tags"], env);
    assert.equal(made.code, 0, made.stderr);
    const file = [...Deno.readDirSync(`${scratch}/supabase/migrations`)].map((e) => e.name)
      .find((name) => name.endsWith("_add_tags.sql"));
    assert.match(file!, /^\d{14}_add_tags\.sql$/);
    const listed = await task(["migration", "list"], env);
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, new RegExp(`${file!.slice(0, 14)}\\s+yes\\s+no\\s+add_tags`));
  } finally {
    await Deno.remove(scratch, { recursive: true });
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test({
  name: "cli: a failing migration names its file and line and leaves nothing of itself behind",
  ...E2E,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "edge-migrations-" });
    const db = await openDatabase({ dataDir: null, authenticatorPassword: crypto.randomUUID() });
    try {
      await Deno.writeTextFile(
        `${dir}/20990101000000_broken.sql`,
        "create table public.half_done (id int);\n\nselect * from no_such_table;\n",
      );
      await assert.rejects(
        migrate(db.sql, new URL(`file://${dir}/`)),
        /20990101000000_broken\.sql:3: relation "no_such_table" does not exist/,
      );
      const [{ exists }] = await db
        .sql`select to_regclass('public.half_done') is not null as exists`;
      assert.equal(exists, false, "the file's transaction was rolled back");
    } finally {
      await db.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("cli: gen-types prints the committed types; --check fails on stale ones", async () => {
  // Two throwaway clusters, not three: `--check` passing on fresh types is what .ci/run's own
  // `deno task gen-types --check` shows on every run.
  const scratch = await scratchProject();
  try {
    const env = { EDGE_PROJECT_ROOT: scratch };
    const file = "functions/_shared/database.types.ts";
    const printed = await task(["gen-types"], env);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^export type Json =/);
    assert.match(printed.stdout, /posts: \{\n\s+Row: \{/);
    assert.equal(printed.stdout, await Deno.readTextFile(`${ROOT}/${file}`), "what is committed");
    await Deno.writeTextFile(`${scratch}/${file}`, "export type Database = {};\n");
    const stale = await task(["gen-types", "--check"], env);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /is stale: run `deno task gen-types --out/);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test({
  name:
    "cli: a second start names the running stack; stop stops it from another terminal; db reset",
  ...E2E,
  async fn() {
    const state = await Deno.makeTempDir({ prefix: "edge-state-" });
    const env = { EDGE_STACK_DIR: state };
    const { child, stderr: progress, port } = await startCli(state, { stderr: true });
    const stderr = progress!;
    let progressSeen = "";
    try {
      progressSeen = (await stderr.read()).value ?? "";
      assert.match(progressSeen, /Starting the local stack/);

      const second = await task(["start", "--port", String(await freePort())], env);
      assert.equal(second.code, 1);
      assert.match(second.stderr, new RegExp(`already running at http://127\\.0\\.0\\.1:${port}`));

      const s = JSON.parse((await task(["status", "--json"], env)).stdout);
      const headers = { apikey: s.secret_key, "content-type": "application/json" };
      await fetch(`${s.api_url}/rest/v1/posts`, {
        method: "POST",
        headers: { ...headers, prefer: "return=minimal" },
        body: JSON.stringify({ title: "before reset", user_id: "someone" }),
      }).then((r) => r.body?.cancel());
      const reset = await task(["db", "reset"], env);
      assert.equal(reset.code, 0, reset.stderr);
      assert.match(reset.stdout, /Finished db reset/);
      const titles = await (await fetch(`${s.api_url}/rest/v1/posts?select=title&order=id`, {
        headers,
      })).json();
      assert.deepEqual(
        titles.map((p: { title: string }) => p.title),
        ["Notes on the Analytical Engine", "A second post by Ada", "Compilers"],
        "after a reset: the seed only, and PostgREST sees the new tables",
      );

      const stopped = await task(["stop"], env);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stdout, /Stopped/);
      assert.equal((await child.status).code, 0);
      const after = await task(["status"], env);
      assert.equal(after.code, 1);
      assert.equal((await task(["stop"], env)).stdout.trim(), "No local stack is running.");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* stopped */ }
      await stderr.cancel().catch(() => {});
      await Deno.remove(state, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "cli: token --provider mints a stand-in token for [auth.third_party.*]; secrets prints what hosted needs",
  ...E2E,
  async fn() {
    const scratch = await scratchProject();
    const state = await Deno.makeTempDir({ prefix: "edge-state-" });
    const config = `${scratch}/supabase/config.toml`;
    await Deno.writeTextFile(
      config,
      `${await Deno.readTextFile(
        config,
      )}\n[auth.third_party.clerk]\nenabled = true\ndomain = "edge-auth.clerk.accounts.dev"\n`,
    );
    const env = { EDGE_PROJECT_ROOT: scratch, EDGE_STACK_DIR: state };
    const { child } = await startCli(state, { env: { EDGE_PROJECT_ROOT: scratch } });
    try {
      const minted = await task(["token", "--provider", "clerk", "--sub", "user_1"], env);
      assert.equal(minted.code, 0, minted.stderr);
      const token = minted.stdout.trim();
      assert.equal(token.split("\n").length, 1);
      const { decodeJwt } = await import("jose");
      assert.equal(decodeJwt(token).iss, "https://edge-auth.clerk.accounts.dev");
      const s = JSON.parse((await task(["status", "--json"], env)).stdout);
      const inserted = await fetch(`${s.api_url}/rest/v1/tasks`, {
        method: "POST",
        headers: {
          apikey: s.publishable_key,
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          prefer: "return=representation",
        },
        body: JSON.stringify({ name: "offline clerk" }),
      });
      assert.equal(inserted.status, 201, await inserted.clone().text());
      assert.equal((await inserted.json())[0].user_id, "clerk:user_1");

      const unknown = await task(["token", "--provider", "logto", "--sub", "x"], env);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no stand-in for "logto" \(this stack has: clerk\)/);
      const claims = await task(
        ["token", "--provider", "clerk", "--sub", "u", "--claims", "[1]"],
        env,
      );
      assert.equal(claims.code, 2);

      const secrets = await task(["secrets"], env);
      assert.equal(secrets.code, 0, secrets.stderr);
      assert.match(
        secrets.stdout,
        /supabase secrets set AUTH_ISSUERS='\[\{"mode":"native".*"issuer":"https:\/\/edge-auth\.clerk\.accounts\.dev"/,
      );
      assert.doesNotMatch(
        secrets.stdout,
        /_local\/idp/,
        "no stand-in in what a hosted project sets",
      );
      assert.equal((await task(["stop"], env)).code, 0);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* stopped */ }
      await child.status;
      await Deno.remove(scratch, { recursive: true });
      await Deno.remove(state, { recursive: true });
    }
  },
});

Deno.test("cli: hints print the verbs as they were run: npx form under npx, deno task otherwise", async () => {
  const state = await Deno.makeTempDir({ prefix: "edge-npx-" });
  try {
    const plain = await task(["status"], { EDGE_STACK_DIR: state });
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /start it with `deno task start`/);
    const npx = await task(["status"], {
      EDGE_STACK_DIR: state,
      npm_command: "exec",
      npm_config_user_agent: "npm/10.8.2 node/v20.19.0 linux x64",
    });
    assert.match(npx.stderr, /start it with `npx -y deno@2\.9\.6 task start`/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
