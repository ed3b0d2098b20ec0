/**
 * `deno task db reset`: a fresh database: what migrations and the seed made is removed, then
 * `supabase/migrations` run in order (each in its own transaction) and `supabase/seed.sql`.
 * With the stack running, the stack does it (it owns the database) and PostgREST reloads its
 * schema; otherwise the embedded cluster in the state directory is re-created (or the
 * DATABASE_URL database emptied) and migrated.
 */
import { fail, parseOrExit, progress, type Verb } from "./args.ts";
import { PROJECT_ROOT } from "./new.ts";
import { findRunning, STATE_DIR } from "../stack/status_file.ts";

export const db: Verb = {
  name: "db",
  supabase: "supabase db reset",
  summary:
    "db reset: DELETES the local data, re-applies supabase/migrations, then supabase/seed.sql",
  usage: [
    "usage: deno task db reset",
    "  Deletes every row and everything migrations made in the local database, then applies",
    "  supabase/migrations in order and runs supabase/seed.sql (the Supabase CLI's db reset).",
    "  Works with the stack running (it resets its database in place; sessions end) or stopped",
    "  (the cluster in the state directory, or DATABASE_URL, is rebuilt).",
  ].join("\n"),
  async run(argv) {
    const { positionals } = parseOrExit(this, argv, {}, 1);
    if (positionals[0] !== "reset") {
      fail(
        this,
        positionals[0] ? `unknown subcommand "${positionals[0]}"` : "a subcommand is required",
      );
    }
    const running = await findRunning();
    if (running) {
      progress(`Resetting the database of the stack at ${running.status.api_url}...`);
      const response = await fetch(`${running.status.api_url}/_local/db/reset`, {
        method: "POST",
        headers: { apikey: running.status.secret_key },
      });
      const answer = await response.json();
      if (!response.ok) {
        console.error(answer.message);
        return 1;
      }
      for (const file of answer.applied) progress(`Applied ${file}`);
      console.log("Finished db reset.");
      return 0;
    }
    const databaseUrl = Deno.env.get("DATABASE_URL");
    const [{ openDatabase }, { readDbSettings }] = await Promise.all([
      import("../stack/db/database.ts"),
      import("../stack/db/settings.ts"),
    ]);
    const settings = readDbSettings(
      await Deno.readTextFile(`${PROJECT_ROOT}/supabase/config.toml`).catch(() => null),
    );
    const dataDir = `${STATE_DIR}/postgres/${settings.majorVersion}`;
    progress(`Resetting ${databaseUrl ? "the DATABASE_URL database" : dataDir}...`);
    try {
      const opened = await openDatabase({
        reset: true,
        dataDir,
        ownFolder: STATE_DIR,
        port: 0,
        majorVersion: settings.majorVersion,
        authenticatorPassword: crypto.randomUUID(), // set again by the next start
        log: progress,
        ...(databaseUrl ? { databaseUrl } : {}),
      });
      await opened.close();
    } catch (error) {
      console.error((error as Error).message);
      return 1;
    }
    console.log("Finished db reset.");
    return 0;
  },
};
