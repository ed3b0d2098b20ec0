/**
 * The local database: a real PostgreSQL server embedded from npm (./postgres_server.ts), of
 * `[db] major_version`, or an external one when `DATABASE_URL` is set. Either way it is
 * bootstrapped like a hosted project (./bootstrap.sql), then `supabase/migrations` run in
 * file-name order as `postgres` (each once, recorded as the Supabase CLI records them), then
 * `supabase/seed.sql` on a fresh database.
 */
import postgres from "postgres";
import { findPostgresBinaries } from "./postgres_binaries.ts";
import {
  placeCluster,
  type PostgresServer,
  recoverCluster,
  startPostgresServer,
  SUPERUSER,
  throwawayClusterDir,
} from "./postgres_server.ts";
import { freePort, portInUse } from "./ports.ts";
import { splitStatements } from "./sql_split.ts";

export type Sql = ReturnType<typeof postgres>;

/** The Supabase CLI's `postgres` password for local databases. */
export const POSTGRES_PASSWORD = "postgres";
export const DEFAULT_MAJOR_VERSION = 15;
export const DEFAULT_DB_PORT = 54322;

export interface Database {
  kind: "embedded" | "external";
  /** As the `postgres` role: db_url, SUPABASE_DB_URL, and what migrations run as. */
  url: string;
  /** As the superuser, for the stack's own work (bootstrap, Auth, issuer sync). */
  adminUrl: string;
  /** What PostgREST connects with (as `authenticator`). */
  postgrestUri: string;
  /** `server_version`, e.g. "15.18". */
  serverVersion: string;
  /** A pool connected as the superuser. */
  sql: Sql;
  /** The embedded server (null for DATABASE_URL). */
  server: PostgresServer | null;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** External server (DATABASE_URL); when absent the embedded server runs. */
  databaseUrl?: string;
  /** The embedded cluster's directory; null for a throwaway one (tests, gen-types). */
  dataDir?: string | null;
  /** The embedded server's port; 0 picks a free one. Default 54322 (a throwaway cluster: 0). */
  port?: number;
  /** The embedded server's major version. Default 15. */
  majorVersion?: number;
  /** Start from an empty database. */
  reset?: boolean;
  /** The stack's state directory above dataDir (see ServerOptions.ownFolder). */
  ownFolder?: string;
  /** Password set on the `authenticator` role (PostgREST logs in with it). */
  authenticatorPassword: string;
  /** Leave out migrations and the seed (a bare hosted-like database). */
  bootstrapOnly?: boolean;
  log?: (line: string) => void;
}

/** A postgres:// URL for a role on the embedded server. */
export function localUrl(
  port: number,
  user: string,
  password: string,
  database = "postgres",
): string {
  return `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}` +
    "?sslmode=disable";
}

export function pool(url: string, max = 10): Sql {
  return postgres(url, {
    max,
    prepare: false,
    onnotice: () => {},
    connection: { application_name: "local-stack" },
  });
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  const db = options.databaseUrl
    ? await openExternal(options.databaseUrl, options)
    : await openEmbedded(options);
  try {
    await bootstrap(db, {
      authenticatorPassword: options.authenticatorPassword,
      migrate: !options.bootstrapOnly,
    });
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

async function openEmbedded(options: OpenOptions): Promise<Database> {
  const log = options.log ?? ((line: string) => console.error(line));
  const binaries = await findPostgresBinaries(options.majorVersion ?? DEFAULT_MAJOR_VERSION, log);
  const ephemeral = options.dataDir === null || options.dataDir === undefined;
  let dataDir: string;
  let scratch: string | null = null;
  if (ephemeral) {
    scratch = await throwawayClusterDir();
    dataDir = `${scratch}/data`;
  } else {
    dataDir = await placeCluster(
      options.dataDir!,
      options.ownFolder ?? options.dataDir!.replace(/\/[^/]+$/, ""),
      log,
    );
    // A server a killed stack left on this cluster holds its port and files: stop it first.
    await recoverCluster(dataDir, log);
    if (options.reset) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
  const requested = options.port ?? (ephemeral ? 0 : DEFAULT_DB_PORT);
  if (requested !== 0 && portInUse(requested)) {
    throw new Error(
      `the database port ${requested} is in use by another program: stop it, or set [db] port ` +
        "in supabase/config.toml",
    );
  }
  const port = requested === 0 ? await freePort() : requested;
  const server = await startPostgresServer({
    binaries,
    dataDir,
    port,
    ephemeral,
    log,
    ownFolder: dataDir === options.dataDir
      ? options.ownFolder ?? dataDir.replace(/\/[^/]+$/, "")
      : dataDir.replace(/\/[^/]+$/, ""),
  }).catch(
    async (error) => {
      if (scratch) await Deno.remove(scratch, { recursive: true }).catch(() => {});
      throw error;
    },
  );
  const adminUrl = localUrl(port, SUPERUSER, server.superuserPassword);
  const sql = pool(adminUrl);
  const [{ server_version }] =
    await sql`select current_setting('server_version') as server_version`;
  return {
    kind: "embedded",
    url: localUrl(port, "postgres", POSTGRES_PASSWORD),
    adminUrl,
    postgrestUri: localUrl(port, "authenticator", options.authenticatorPassword),
    serverVersion: server_version,
    sql,
    server,
    async close() {
      await sql.end({ timeout: 1 });
      await server.stop();
      if (scratch) await Deno.remove(scratch, { recursive: true }).catch(() => {});
    },
  };
}

async function openExternal(databaseUrl: string, options: OpenOptions): Promise<Database> {
  let parsed: URL;
  try {
    parsed = new URL(databaseUrl);
  } catch {
    throw new Error("DATABASE_URL is not a postgres:// URL");
  }
  const sql = pool(databaseUrl, 6);
  let version: string;
  try {
    [{ version }] = await sql`select current_setting('server_version') as version`;
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw new Error(`DATABASE_URL: cannot connect (${(error as Error).message})`);
  }
  if (options.reset) await resetDatabase(sql);
  const uri = new URL(parsed.href);
  uri.username = "authenticator";
  uri.password = encodeURIComponent(options.authenticatorPassword);
  return {
    kind: "external",
    url: databaseUrl,
    adminUrl: databaseUrl,
    postgrestUri: uri.href,
    serverVersion: version,
    sql,
    server: null,
    async close() {
      await sql.end({ timeout: 1 });
    },
  };
}

/** Empty a database in use of everything migrations and the seed made (./reset.sql). */
export async function resetDatabase(sql: Sql): Promise<void> {
  await sql.unsafe(await Deno.readTextFile(new URL("./reset.sql", import.meta.url))).simple();
}

const root = new URL("../../", import.meta.url);

/**
 * Idempotent: roles, schemas and Auth's tables (as the superuser), then, as `postgres`, the
 * migrations not yet recorded and, on a fresh database, the seed.
 */
export async function bootstrap(
  db: Pick<Database, "kind" | "sql" | "url">,
  options: {
    authenticatorPassword?: string;
    migrate?: boolean;
    /** Seed a fresh database (default true). */
    seed?: boolean;
    migrations?: URL;
    seedFile?: URL;
  } = {},
): Promise<{ applied: string[] }> {
  const { sql } = db;
  const [{ fresh }] = await sql<{ fresh: boolean }[]>`
    select to_regclass('supabase_migrations.schema_migrations') is null as fresh`;
  await sql.unsafe(await Deno.readTextFile(new URL("./bootstrap.sql", import.meta.url))).simple();
  if (options.authenticatorPassword !== undefined) {
    await sql.unsafe(
      `alter role authenticator with login password '${quote(options.authenticatorPassword)}'`,
    );
  }
  if (db.kind === "embedded") {
    // As on a hosted project: `postgres` is not a superuser, and logs in with the CLI's password.
    await sql.unsafe(
      `alter role postgres nosuperuser createdb createrole login replication bypassrls
         password '${POSTGRES_PASSWORD}'`,
    );
    await sql.unsafe(`alter role postgres set search_path to "$user", public, extensions`);
  }
  if (options.migrate === false) return { applied: [] };
  // Migrations and the seed run as `postgres` (the DATABASE_URL user on an external server), so
  // what they create belongs to it, as on a hosted project; on a new connection, so that the
  // search path the bootstrap just gave the database applies.
  const asPostgres = pool(db.url, 1);
  try {
    const applied = await migrate(asPostgres, options.migrations);
    if (fresh && options.seed !== false) {
      await seed(asPostgres, options.seedFile ?? new URL("supabase/seed.sql", root));
    }
    return { applied };
  } finally {
    await asPostgres.end({ timeout: 1 });
  }
}

function quote(text: string): string {
  return text.replace(/'/g, "''");
}

async function seed(sql: Sql, file: URL): Promise<void> {
  const text = await readIfExists(file);
  if (!text) return;
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe(text).simple();
    });
  } catch (error) {
    throw new Error(`supabase/seed.sql${lineOf(text, error)}: ${(error as Error).message}`);
  }
}

/** Postgres reports where in the text it failed: name the line, as an editor shows it. */
function lineOf(text: string, error: unknown): string {
  const position = Number((error as { position?: string }).position);
  return position > 0 ? `:${text.slice(0, position - 1).split("\n").length}` : "";
}

/** The Supabase CLI's migration history table (it adds the columns the same way). */
async function ensureHistory(sql: Sql): Promise<void> {
  await sql.unsafe(`
    create schema if not exists supabase_migrations;
    create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
    alter table supabase_migrations.schema_migrations add column if not exists statements text[];
    alter table supabase_migrations.schema_migrations add column if not exists name text;
  `).simple();
}

/**
 * Apply `supabase/migrations/*.sql` not yet recorded, in file-name order, each in a transaction,
 * recorded with its version, name and statements as `supabase db push` records them.
 */
export async function migrate(
  sql: Sql,
  dir: URL = new URL("supabase/migrations/", root),
): Promise<string[]> {
  await ensureHistory(sql);
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".sql")) files.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  files.sort();
  const done = new Set(
    (await sql<{ version: string }[]>`select version from supabase_migrations.schema_migrations`)
      .map((r) => r.version),
  );
  const applied: string[] = [];
  for (const file of files) {
    const match = /^(\d+)_(.*)\.sql$/.exec(file);
    if (!match) throw new Error(`supabase/migrations/${file}: name must be <version>_<name>.sql`);
    const [, version, name] = match as unknown as [string, string, string];
    if (done.has(version)) continue;
    const text = await Deno.readTextFile(new URL(file, dir));
    try {
      await sql.begin(async (tx) => {
        await tx.unsafe(text).simple();
        await tx`insert into supabase_migrations.schema_migrations (version, name, statements)
                 values (${version}, ${name}, ${splitStatements(text)})`;
      });
    } catch (error) {
      throw new Error(
        `supabase/migrations/${file}${lineOf(text, error)}: ${
          (error as Error).message
        } (nothing of it was applied)`,
      );
    }
    applied.push(file);
  }
  return applied;
}

async function readIfExists(url: URL): Promise<string | null> {
  try {
    return await Deno.readTextFile(url);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
