/**
 * `deno task migration new <name>`: an empty, timestamped migration file.
 * `deno task migration list`: the migrations on disk next to those the database applied.
 */
import postgres from "postgres";
import { PGlite } from "@electric-sql/pglite";
import { pgcrypto } from "@electric-sql/pglite/contrib/pgcrypto";
import { fail, parseOrExit, type Verb } from "./args.ts";
import { PROJECT_ROOT } from "./new.ts";
import { findRunning, STATE_DIR } from "../stack/status_file.ts";

export const migration: Verb = {
  name: "migration",
  supabase: "supabase migration new / supabase migration list",
  summary: "migration new <name> (timestamped file) | migration list (on disk vs applied)",
  usage: [
    "usage: deno task migration new <name>",
    "       deno task migration list",
    "  <name>  letters, digits and _ (the file is supabase/migrations/<UTC timestamp>_<name>.sql)",
  ].join("\n"),
  async run(argv) {
    const { positionals } = parseOrExit(this, argv, {}, 2);
    const [sub, name] = positionals;
    if (sub === "new") {
      if (!name) fail(this, "a migration name is required");
      if (!/^[A-Za-z0-9_]{1,100}$/.test(name)) {
        fail(this, `invalid migration name "${name.slice(0, 40)}": use letters, digits and _`);
      }
      const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
      const path = `supabase/migrations/${stamp}_${name}.sql`;
      await Deno.mkdir(`${PROJECT_ROOT}/supabase/migrations`, { recursive: true });
      await Deno.writeTextFile(`${PROJECT_ROOT}/${path}`, "", { createNew: true });
      console.log(`Created new migration at ${path}`);
      return 0;
    }
    if (sub === "list") {
      if (name) fail(this, `unexpected argument "${name}"`);
      return await list();
    }
    fail(this, sub ? `unknown subcommand "${sub}"` : "a subcommand is required (new or list)");
  },
};

async function list(): Promise<number> {
  const onDisk = new Map<string, string>();
  for await (const entry of Deno.readDir(`${PROJECT_ROOT}/supabase/migrations`)) {
    const match = /^(\d+)_(.+)\.sql$/.exec(entry.name);
    if (entry.isFile && match) onDisk.set(match[1]!, match[2]!);
  }
  const applied = await appliedVersions();
  if (applied === null) {
    console.error("No database yet: `deno task start` creates it.");
  }
  const versions = [...new Set([...onDisk.keys(), ...(applied ?? [])])].sort();
  console.log(`${"version".padEnd(16)}  ${"on disk".padEnd(8)}  ${"applied".padEnd(8)}  name`);
  for (const v of versions) {
    const disk = onDisk.has(v) ? "yes" : "MISSING";
    const done = applied?.includes(v) ? "yes" : "no";
    console.log(`${v.padEnd(16)}  ${disk.padEnd(8)}  ${done.padEnd(8)}  ${onDisk.get(v) ?? ""}`);
  }
  return 0;
}

/** Applied versions, from the running stack, DATABASE_URL, or the PGlite files at rest. */
async function appliedVersions(): Promise<string[] | null> {
  const query = "select version from supabase_migrations.schema_migrations order by version";
  const running = await findRunning();
  const url = running?.status.db_url ?? Deno.env.get("DATABASE_URL");
  if (url) {
    const sql = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
    try {
      return (await sql.unsafe(query)).map((r) => r.version as string);
    } catch {
      return [];
    } finally {
      await sql.end();
    }
  }
  const dataDir = `${STATE_DIR}/db`;
  if (!(await Deno.stat(dataDir).then(() => true, () => false))) return null;
  const pglite = await PGlite.create(dataDir, { extensions: { pgcrypto } });
  try {
    return (await pglite.query<{ version: string }>(query)).rows.map((r) => r.version);
  } catch {
    return [];
  } finally {
    await pglite.close();
  }
}
