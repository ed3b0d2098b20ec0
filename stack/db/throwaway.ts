/**
 * A throwaway database built from `supabase/migrations` (what `deno task gen-types` reads):
 * a new database in the running stack's own cluster when there is one, else in DATABASE_URL's
 * server, else in a throwaway embedded cluster. Dropped afterwards in every case.
 */
import {
  bootstrap,
  type Database,
  localUrl,
  pool,
  POSTGRES_PASSWORD,
  type Sql,
} from "./database.ts";
import { findPostgresBinaries } from "./postgres_binaries.ts";
import {
  type PostgresServer,
  startPostgresServer,
  SUPERUSER,
  throwawayClusterDir,
} from "./postgres_server.ts";
import { freePort } from "./ports.ts";
import { readRunningDatabase } from "../status_file.ts";

export interface ThrowawayOptions {
  /** `[db] major_version`, for a throwaway cluster. */
  majorVersion: number;
  log: (line: string) => void;
  migrations?: URL;
}

/** Run `fn` with a superuser pool on a fresh, migrated database, then drop it. */
export async function withThrowawayDatabase<T>(
  options: ThrowawayOptions,
  fn: (sql: Sql) => Promise<T>,
): Promise<T> {
  const cluster = await openCluster(options);
  const name = `throwaway_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = pool(cluster.adminUrl, 1);
  try {
    await admin.unsafe(`create database ${name}`);
  } catch (error) {
    await admin.end({ timeout: 1 });
    await cluster.close();
    throw error;
  }
  const db: Pick<Database, "kind" | "sql" | "url"> = {
    kind: cluster.kind,
    sql: pool(withDatabase(cluster.adminUrl, name), 2),
    url: withDatabase(cluster.postgresUrl, name),
  };
  try {
    await bootstrap(db, {
      seed: false,
      ...(options.migrations ? { migrations: options.migrations } : {}),
    });
    return await fn(db.sql);
  } finally {
    await db.sql.end({ timeout: 1 });
    await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
    await admin.end({ timeout: 1 });
    await cluster.close();
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.href;
}

interface Cluster {
  kind: Database["kind"];
  adminUrl: string;
  postgresUrl: string;
  close(): Promise<void>;
}

async function openCluster(options: ThrowawayOptions): Promise<Cluster> {
  const running = await readRunningDatabase();
  if (running?.kind === "embedded") {
    const port = new URL(running.admin_url).port;
    return {
      kind: "embedded",
      adminUrl: running.admin_url,
      postgresUrl: localUrl(Number(port), "postgres", POSTGRES_PASSWORD),
      close: () => Promise.resolve(),
    };
  }
  const external = Deno.env.get("DATABASE_URL");
  if (external) {
    return {
      kind: "external",
      adminUrl: external,
      postgresUrl: external,
      close: () => Promise.resolve(),
    };
  }
  const binaries = await findPostgresBinaries(options.majorVersion, options.log);
  const scratch = await throwawayClusterDir();
  let server: PostgresServer;
  try {
    server = await startPostgresServer({
      binaries,
      dataDir: `${scratch}/data`,
      port: await freePort(),
      ephemeral: true,
      log: options.log,
    });
  } catch (error) {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
    throw error;
  }
  const adminUrl = localUrl(server.port, SUPERUSER, server.superuserPassword);
  // A new cluster's `postgres` role is made and given its password by the bootstrap of the
  // `postgres` database; the throwaway database's bootstrap does the same.
  return {
    kind: "embedded",
    adminUrl,
    postgresUrl: localUrl(server.port, "postgres", POSTGRES_PASSWORD),
    async close() {
      await server.stop();
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    },
  };
}
