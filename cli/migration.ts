/**
 * `deno task migration new <name>`: an empty, timestamped migration file.
 * `deno task migration list`: the migrations on disk next to those the database applied.
 */
import { verb } from "../stack/invocation.ts";
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
    console.error(`No database yet: \`${verb("start")}\` creates it.`);
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

/** Applied versions, from the running stack, DATABASE_URL, or the embedded cluster at rest. */
async function appliedVersions(): Promise<string[] | null> {
  const query = "select version from supabase_migrations.schema_migrations order by version";
  // The database code loads only for `list` (`new` and `--help` start without it).
  const [{ localUrl, pool }, { findPostgresBinaries }, { startPostgresServer, SUPERUSER }, {
    freePort,
  }, { readDbSettings }] = await Promise.all([
    import("../stack/db/database.ts"),
    import("../stack/db/postgres_binaries.ts"),
    import("../stack/db/postgres_server.ts"),
    import("../stack/db/ports.ts"),
    import("../stack/db/settings.ts"),
  ]);
  const read = async (url: string) => {
    const sql = pool(url, 1);
    try {
      return (await sql.unsafe(query)).map((r) => r.version as string);
    } catch {
      return [];
    } finally {
      await sql.end();
    }
  };
  const running = await findRunning();
  const url = running?.status.db_url ?? Deno.env.get("DATABASE_URL");
  if (url) return await read(url);
  const { majorVersion } = readDbSettings(
    await Deno.readTextFile(`${PROJECT_ROOT}/supabase/config.toml`).catch(() => null),
  );
  const dataDir = `${STATE_DIR}/postgres/${majorVersion}`;
  if (!(await Deno.stat(`${dataDir}/PG_VERSION`).then(() => true, () => false))) return null;
  // The stack is stopped: start its cluster for the one query, on a port of its own.
  const server = await startPostgresServer({
    binaries: await findPostgresBinaries(majorVersion, (line) => console.error(line)),
    dataDir,
    ownFolder: STATE_DIR,
    port: await freePort(),
    ephemeral: false,
    log: (line) => console.error(line),
  });
  try {
    return await read(localUrl(server.port, SUPERUSER, server.superuserPassword));
  } finally {
    await server.stop();
  }
}
