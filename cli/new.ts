/**
 * `deno task new <name>`: a new function from the README's first shape (a user-scoped client,
 * verified caller), its config.toml block, a test that runs it through the stack, and a row
 * in the README's function table.
 */
import { fail, parseOrExit, type Verb } from "./args.ts";
import { FUNCTION_NAME } from "../stack/runtime/functions_config.ts";

/** The project the verbs work on (tests point EDGE_PROJECT_ROOT at a scratch copy). */
export const PROJECT_ROOT = Deno.env.get("EDGE_PROJECT_ROOT") ??
  new URL("..", import.meta.url).pathname.replace(/\/$/, "");

const STRATEGIES = ["auto", "jwks", "getUser"];

export const newFunction: Verb = {
  name: "new",
  supabase: "supabase functions new",
  summary: "create a function (user-scoped client), its config.toml block, a test, a README row",
  usage: [
    "usage: deno task new <name> [--strategy auto|jwks|getUser]",
    "  <name>      letters, digits, - and _, starting with a letter (as the Supabase CLI)",
    "  --strategy  how the caller's token is checked (default auto: local JWKS, getUser",
    "              for sessions Auth must vouch for)",
  ].join("\n"),
  async run(argv) {
    const { values, positionals } = parseOrExit(this, argv, {
      strategy: { type: "string", default: "auto" },
    }, 1);
    const name = positionals[0];
    if (!name) fail(this, "a function name is required");
    if (!FUNCTION_NAME.test(name)) {
      fail(
        this,
        `invalid function name "${
          name.slice(0, 40)
        }": use letters, digits, - and _, starting with a letter`,
      );
    }
    const strategy = values.strategy!;
    if (!STRATEGIES.includes(strategy)) {
      fail(this, `--strategy must be one of ${STRATEGIES.join(", ")}`);
    }
    const dir = `${PROJECT_ROOT}/functions/${name}`;
    const config = `${PROJECT_ROOT}/supabase/config.toml`;
    const configText = await Deno.readTextFile(config).catch(() => "");
    const exists = await Deno.stat(dir).then(() => true, () => false);
    if (exists || configText.includes(`[functions.${name}]`)) {
      console.error(
        `A function named "${name}" already exists (functions/${name} or [functions.${name}]).`,
      );
      return 1;
    }
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${dir}/index.ts`, functionTemplate(name, strategy));
    await Deno.writeTextFile(
      config,
      `${
        configText.replace(/\n*$/, "\n")
      }\n[functions.${name}]\nenabled = true\nverify_jwt = false\nimport_map = "../import_map.json"\nentrypoint = "../functions/${name}/index.ts"\n`,
    );
    const testFile = `${PROJECT_ROOT}/tests/${name.replace(/-/g, "_")}_test.ts`;
    await Deno.writeTextFile(testFile, testTemplate(name));
    const readme = `${PROJECT_ROOT}/README.md`;
    const marker = "<!-- deno task new adds a row above this line -->";
    const readmeText = await Deno.readTextFile(readme).catch(() => null);
    if (readmeText?.includes(marker)) {
      await Deno.writeTextFile(
        readme,
        // The table ends one blank line above the marker: the new row goes right under it.
        readmeText.replace(
          `\n\n${marker}`,
          `\n| \`${name}\` | any signed-in user | (describe it) |\n\n${marker}`,
        ),
      );
    }
    // What was written is formatted as `deno fmt` (CI's --check) wants it: the README's table
    // realigned, the new files in the project's style.
    const written = [`functions/${name}/index.ts`, testFile.slice(PROJECT_ROOT.length + 1)];
    if (readmeText?.includes(marker)) written.push("README.md");
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", ...written],
      cwd: PROJECT_ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!fmt.success) {
      console.error(
        `deno fmt could not format the new files: ${new TextDecoder().decode(fmt.stderr)}`,
      );
    }
    console.log(`Created functions/${name}/index.ts, its [functions.${name}] block,`);
    console.log(`tests/${name.replace(/-/g, "_")}_test.ts and a README row. It is served at once:`);
    console.log(
      `  curl http://127.0.0.1:54321/functions/v1/${name} -H "Authorization: Bearer $TOKEN"`,
    );
    return 0;
  },
};

function functionTemplate(name: string, strategy: string): string {
  return `/**
 * \`${name}\`: (what it does).
 *
 *   GET /${name} -> 200 {id, profile}
 *
 * Any signed-in user. \`ctx.supabase\` acts as the caller, so Row Level Security decides what
 * it may read and write; \`ctx.identity\` is the verified caller.
 */
import { fromDbError, json, withAuth } from "../_shared/mod.ts";

export default {
  fetch: withAuth(
    { allow: "user", methods: ["GET"], strategy: "${strategy}" },
    async (_request, ctx) => {
      const { data, error, status } = await ctx.supabase
        .from("profiles")
        .select("display_name, avatar_url")
        .maybeSingle();
      if (error) throw fromDbError(error, status);
      return json({ id: ctx.identity!.id, profile: data });
    },
  ),
};
`;
}

function testTemplate(name: string): string {
  return `/** \`${name}\` through the local stack, as an app calls it. */
import assert from "node:assert/strict";
import { appClient, E2E, stackContext, userToken } from "./helpers/stack.ts";

const ctx = await stackContext();

Deno.test({
  name: "${name}: a signed-in user gets an answer; no token is 401",
  ...E2E,
  async fn() {
    const user = await userToken(ctx.status);
    const ok = await appClient(ctx.status, user.token).functions.invoke("${name}", {
      method: "GET",
    });
    assert.equal(ok.error, null);
    assert.equal(ok.data.id, user.sub);
    const anonymous = await appClient(ctx.status).functions.invoke("${name}", { method: "GET" });
    assert.equal((anonymous.error?.context as Response | undefined)?.status, 401);
  },
});
`;
}
