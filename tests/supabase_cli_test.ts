/**
 * The real Supabase CLI (npm `supabase`, pinned 2.104.0, 2.117.0 and 3.1.0) against this project
 * and a running stack (issue 20): every version loads config.toml without an error or warning;
 * `migration list` shows every migration applied, `migration fetch` writes back the same
 * statements; `supabase functions new` makes a function that answers here unchanged; in
 * DATABASE_URL mode `supabase db reset --db-url` keeps Supabase's schemas and re-seeds.
 * The CLI needs no Docker for these. Where npm cannot install a version, that is said and the
 * rest runs.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { npmInstall, TOOLS_DIR, withLock } from "../stack/tools.ts";
import { startStack } from "../stack/start.ts";
import { splitStatements } from "../stack/db/sql_split.ts";
import { E2E, stackContext, SUITE_RATE_LIMITS, userToken } from "./helpers/stack.ts";

const VERSIONS = ["2.104.0", "2.117.0", "3.1.0"];
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** The CLI binary of `version`, installed once into .tools/supabase-cli/, or null with a reason. */
async function cli(version: string): Promise<string | null> {
  const prefix = `${TOOLS_DIR}/supabase-cli/${version}`;
  const bin = `${prefix}/node_modules/.bin/supabase`;
  // Installed = npm's package.json names the version and the platform binary is there (running
  // `supabase --version` costs a second of CPU per version; the tests below run each anyway).
  const works = async () => {
    try {
      const pkg = JSON.parse(
        await Deno.readTextFile(`${prefix}/node_modules/supabase/package.json`),
      );
      const binary = [...Deno.readDirSync(`${prefix}/node_modules/@supabase`)]
        .some((e) => e.name.startsWith("cli-"));
      return pkg.version === version && binary && (await Deno.stat(bin)).isFile;
    } catch {
      return false; // not installed yet
    }
  };
  if (await works()) return bin;
  try {
    await Deno.mkdir(`${TOOLS_DIR}/supabase-cli`, { recursive: true });
    await withLock(`${prefix}.lock`, () => npmInstall(prefix, `supabase@${version}`));
  } catch (error) {
    console.log(
      `supabase_cli_test: supabase@${version} could not be installed from npm, its checks are skipped (${
        (error as Error).message.slice(0, 200)
      })`,
    );
    return null;
  }
  return (await works()) ? bin : null;
}

const bins = new Map<string, string>();
for (const version of VERSIONS) {
  const bin = await cli(version);
  if (bin) bins.set(version, bin);
}

async function run(bin: string, args: string[], cwd: string, input?: string) {
  const child = new Deno.Command(bin, {
    args,
    cwd,
    env: { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", NO_COLOR: "1" },
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

/** A copy of this project's supabase/ folder to run the CLI in (fetch rewrites migrations). */
async function projectCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "edge-cli-project-" });
  await new Deno.Command("cp", { args: ["-r", `${ROOT}/supabase`, dir] }).output();
  return dir;
}

Deno.test({
  name: "supabase CLI: 2.104.0, 2.117.0 and 3.1.0 load config.toml with no error and no warning",
  ignore: bins.size === 0,
  ...E2E,
  async fn() {
    const dir = await projectCopy();
    try {
      for (const [version, bin] of bins) {
        // A command that reads config.toml and needs no Docker; the database is not there.
        const r = await run(bin, [
          "migration",
          "list",
          "--db-url",
          "postgresql://postgres:postgres@127.0.0.1:1/postgres?sslmode=disable",
        ], dir);
        assert.doesNotMatch(
          r.text,
          /failed to parse config|invalid keys|config\.toml has keys|WARN: [a-z_]+\.|is deprecated and will be removed in v4, use/i,
          `${version}:\n${r.text}`,
        );
        assert.match(r.text, /connect|ECONNREFUSED/i, `${version} got as far as the database`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "supabase CLI: migration list shows every migration applied; migration fetch writes the same statements",
  ignore: !bins.has("2.117.0"),
  ...E2E,
  async fn() {
    const bin = bins.get("2.117.0")!;
    // The suite's stack: its database has every migration applied, and both commands only read.
    const { status } = await stackContext();
    const dir = await projectCopy();
    try {
      const url = status.db_url;
      const listed = await run(bin, ["migration", "list", "--db-url", url], dir);
      assert.equal(listed.code, 0, listed.text);
      const files = [...Deno.readDirSync(`${ROOT}/supabase/migrations`)].map((e) => e.name).sort();
      for (const file of files) {
        const version = file.split("_")[0];
        assert.match(
          listed.text,
          new RegExp(`${version}\\W+\\|\\W+${version}`),
          `${version} is local and remote`,
        );
      }
      const fetched = await run(bin, ["migration", "fetch", "--db-url", url], dir, "y\n");
      assert.equal(fetched.code, 0, fetched.text);
      for (const file of files) {
        const ours = splitStatements(
          await Deno.readTextFile(`${ROOT}/supabase/migrations/${file}`),
        );
        const back = splitStatements(await Deno.readTextFile(`${dir}/supabase/migrations/${file}`));
        assert.deepEqual(back, ours, file);
        assert.ok(back.length > 0);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "supabase CLI: a function made by `supabase functions new` answers here unchanged",
  ignore: !bins.has("2.117.0"),
  ...E2E,
  async fn() {
    const bin = bins.get("2.117.0")!;
    const dir = await projectCopy();
    let stack;
    try {
      const made = await run(bin, ["functions", "new", "hello-cli"], dir);
      assert.equal(made.code, 0, made.text);
      const config = await Deno.readTextFile(`${dir}/supabase/config.toml`);
      assert.match(config, /\[functions\.hello-cli\]/);
      // The project's own functions are named from the copy by their absolute paths.
      await Deno.writeTextFile(
        `${dir}/supabase/config.toml`,
        config.replaceAll('"../', `"${ROOT}/`),
      );
      const logs: string[] = [];
      stack = await startStack({
        port: 0,
        dataDir: null,
        keysPath: null,
        configToml: `${dir}/supabase/config.toml`,
        authSettings: { rateLimits: SUITE_RATE_LIMITS },
        log: (line) => logs.push(line),
      });
      const s = stack.status;
      const user = await userToken(s);
      const r = await fetch(`${s.functions_url}/hello-cli`, {
        method: "POST",
        headers: {
          apikey: s.publishable_key,
          authorization: `Bearer ${user.token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ name: "Functions" }),
      });
      assert.equal(
        r.status,
        200,
        `${await r.clone().text()}\n${logs.filter((l) => l.includes("hello-cli")).join("\n")}`,
      );
      assert.deepEqual(await r.json(), { message: "Hello Functions!" });
    } finally {
      await stack?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const external = Deno.env.get("TEST_DATABASE_URL");
if (!external) {
  console.log("supabase_cli_test: db reset --db-url skipped, TEST_DATABASE_URL is not set");
}

Deno.test({
  name:
    "supabase CLI: db reset --db-url on a DATABASE_URL stack keeps Supabase's schemas and re-seeds",
  ignore: !bins.has("2.117.0") || !external,
  ...E2E,
  async fn() {
    const bin = bins.get("2.117.0")!;
    // A database of its own on that server (other tests use TEST_DATABASE_URL's).
    const name = `cli_reset_${crypto.randomUUID().slice(0, 8)}`;
    const admin = postgres(external!, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const url = new URL(external!);
    url.pathname = `/${name}`;
    url.search = "?sslmode=disable";
    const dir = await projectCopy();
    const stack = await startStack({
      databaseUrl: url.href,
      port: 0,
      keysPath: null,
      log: () => {},
    });
    const sql = postgres(url.href, { max: 1, onnotice: () => {} });
    try {
      await sql`insert into public.posts (user_id, title) values ('someone', 'before the reset')`;
      const reset = await run(bin, ["db", "reset", "--db-url", url.href], dir, "y\n");
      assert.equal(reset.code, 0, reset.text);
      assert.doesNotMatch(reset.text, /does not exist/);
      const [row] = await sql`
        select (select count(*)::int from public.posts) as posts,
               (select count(*)::int from auth.users) as users,
               (select count(*)::int from supabase_migrations.schema_migrations where statements is not null) as recorded`;
      assert.deepEqual(row, {
        posts: 3,
        users: 2,
        recorded: [...Deno.readDirSync(`${ROOT}/supabase/migrations`)].length,
      });
      // The running stack refills the issuer table the reset emptied: Ada's posts are hers again.
      const signIn = await fetch(`${stack.status.api_url}/auth/v1/token?grant_type=password`, {
        method: "POST",
        headers: { apikey: stack.status.publishable_key, "content-type": "application/json" },
        body: JSON.stringify({ email: "ada@example.com", password: "ada-password" }),
      });
      const { access_token } = await signIn.json();
      let seen = 0;
      for (let i = 0; i < 40 && seen !== 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const r = await fetch(`${stack.status.api_url}/rest/v1/posts?select=id`, {
          headers: {
            apikey: stack.status.publishable_key,
            authorization: `Bearer ${access_token}`,
          },
        });
        seen = (await r.json()).length;
      }
      assert.equal(seen, 2);
    } finally {
      await sql.end();
      await stack.stop();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
