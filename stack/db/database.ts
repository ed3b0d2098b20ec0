/**
 * The local database: PGlite (real Postgres compiled to WASM) served on a loopback port
 * (./pglite_server.ts), or an external PostgreSQL when `DATABASE_URL` is set. Either way it is
 * bootstrapped like a hosted project (./bootstrap.sql), then `supabase/migrations`
 * run in file-name order (each once, recorded in supabase_migrations.schema_migrations),
 * then `supabase/seed.sql` on a fresh database.
 *
 * Every query after boot goes through the socket, never straight into the PGlite
 * instance: PGlite is one session, and the server keeps a client's transaction together;
 * a direct call could land inside PostgREST's transaction (and its `set local role`).
 */
import postgres from "postgres";
import type { PgliteProfile } from "./pglite_server.ts";

export type Sql = ReturnType<typeof postgres>;

export interface Database {
  kind: "pglite" | "external";
  /** Superuser URL, shown as db_url and given to functions as SUPABASE_DB_URL. */
  url: string;
  /** What PostgREST connects with (as `authenticator`). */
  postgrestUri: string;
  /** PGlite is one session: PostgREST must use one connection, no prepared statements, no LISTEN. */
  singleSession: boolean;
  sql: Sql;
  /** PGlite only: its socket server's counters and the /proc entry of its thread. */
  profile?(): Promise<{ profile: PgliteProfile | null; thread: string | null }>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** External server (DATABASE_URL); when absent PGlite is used. */
  databaseUrl?: string;
  /** PGlite data directory; null for an in-memory database. */
  dataDir?: string | null;
  /** Start from an empty database. */
  reset?: boolean;
  /** Password set on the `authenticator` role (external servers check it). */
  authenticatorPassword: string;
}

const root = new URL("../../", import.meta.url);

export async function openDatabase(options: OpenOptions): Promise<Database> {
  const db = options.databaseUrl
    ? await openExternal(options.databaseUrl, options)
    : await openPglite(options);
  try {
    await bootstrap(db.sql, options.authenticatorPassword);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

async function openPglite(options: OpenOptions): Promise<Database> {
  const dataDir = options.dataDir ?? null;
  if (dataDir && options.reset) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  if (dataDir) await Deno.mkdir(dataDir, { recursive: true });
  // PGlite and its socket server run on a thread of their own (./pglite_worker.ts).
  const worker = new Worker(new URL("./pglite_worker.ts", import.meta.url), { type: "module" });
  const started = await new Promise<{ port?: number; error?: string }>((resolve) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      resolve({ error: event.message });
    };
    worker.postMessage({ dataDir });
  });
  if (started.port === undefined) {
    worker.terminate();
    throw new Error(`PGlite could not start: ${started.error}`);
  }
  const port = started.port;
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  const sql = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
  return {
    kind: "pglite",
    url,
    postgrestUri:
      `postgres://authenticator:${options.authenticatorPassword}@127.0.0.1:${port}/postgres`,
    singleSession: true,
    sql,
    profile() {
      return new Promise((resolve) => {
        worker.onmessage = (event) => resolve(event.data);
        worker.postMessage("profile");
      });
    },
    async close() {
      await sql.end({ timeout: 1 });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5_000);
        worker.onmessage = () => {
          clearTimeout(timer);
          resolve();
        };
        worker.postMessage("close");
      });
      worker.terminate();
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
  const sql = postgres(databaseUrl, { max: 4, prepare: false, onnotice: () => {} });
  try {
    await sql`select 1`;
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw new Error(`DATABASE_URL: cannot connect (${(error as Error).message})`);
  }
  if (options.reset) await resetSchemas(sql);
  const uri = new URL(parsed.href);
  uri.username = "authenticator";
  uri.password = options.authenticatorPassword;
  return {
    kind: "external",
    url: databaseUrl,
    postgrestUri: uri.href,
    singleSession: false,
    sql,
    async close() {
      await sql.end({ timeout: 1 });
    },
  };
}

/** Drop what migrations, the seed and the Auth bootstrap made, keeping roles and extensions. */
export async function resetSchemas(sql: Sql): Promise<void> {
  await sql.unsafe(`
    drop schema if exists public cascade;
    drop schema if exists auth cascade;
    drop schema if exists private cascade;
    drop schema if exists supabase_migrations cascade;
    create schema public;
  `).simple();
}

/** Hosted projects' default search path. */
const SEARCH_PATH = `"$user", public, extensions`;

/** Idempotent: roles, auth schema and helpers, then pending migrations, then seed if fresh. */
export async function bootstrap(
  sql: Sql,
  authenticatorPassword: string,
): Promise<{ applied: string[] }> {
  const [{ fresh }] = await sql<{ fresh: boolean }[]>`
    select to_regclass('supabase_migrations.schema_migrations') is null as fresh`;
  await sql.unsafe(await Deno.readTextFile(new URL("./bootstrap.sql", import.meta.url))).simple();
  await sql.unsafe(
    `alter role authenticator with login password '${authenticatorPassword.replace(/'/g, "''")}'`,
  );
  // As on a hosted project: `extensions` (pgcrypto) is on every session's search path.
  await sql.unsafe(
    `do $$ begin execute format('alter database %I set search_path to ${SEARCH_PATH}', current_database()); end $$`,
  );
  const applied = await migrate(sql);
  if (fresh) {
    const seed = await readIfExists(new URL("supabase/seed.sql", root));
    if (seed) {
      try {
        await sql.begin(async (tx) => {
          await tx.unsafe(`set local search_path to ${SEARCH_PATH}`);
          await tx.unsafe(seed).simple();
        });
      } catch (error) {
        throw new Error(`supabase/seed.sql failed: ${(error as Error).message}`);
      }
    }
  }
  return { applied };
}

/** Apply `supabase/migrations/*.sql` not yet recorded, in file-name order, each in a transaction. */
export async function migrate(
  sql: Sql,
  dir: URL = new URL("supabase/migrations/", root),
): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".sql")) files.push(entry.name);
  }
  files.sort();
  const done = new Set(
    (await sql<{ version: string }[]>`select version from supabase_migrations.schema_migrations`)
      .map((r) => r.version),
  );
  const applied: string[] = [];
  for (const file of files) {
    const match = /^(\d+)_(.+)\.sql$/.exec(file);
    if (!match) throw new Error(`supabase/migrations/${file}: name must be <version>_<name>.sql`);
    const [, version, name] = match as unknown as [string, string, string];
    if (done.has(version)) continue;
    const text = await Deno.readTextFile(new URL(file, dir));
    try {
      await sql.begin(async (tx) => {
        await tx.unsafe(`set local search_path to ${SEARCH_PATH}`);
        await tx.unsafe(text).simple();
        await tx`insert into supabase_migrations.schema_migrations (version, name) values (${version}, ${name})`;
      });
    } catch (error) {
      // Postgres reports where in the text it failed: name the line, as an editor shows it.
      const position = Number((error as { position?: string }).position);
      const line = position > 0 ? `:${text.slice(0, position - 1).split("\n").length}` : "";
      throw new Error(
        `supabase/migrations/${file}${line}: ${
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

/** A port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  await Promise.resolve();
  return port;
}
