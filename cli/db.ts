/**
 * `deno task db reset`: a fresh database: every schema migrations made is dropped, then
 * `supabase/migrations` run in order (each in its own transaction) and `supabase/seed.sql`.
 * With the stack running, the stack does it (it owns the database) and PostgREST reloads its
 * schema; otherwise the database in the state directory (or DATABASE_URL) is reset directly.
 */
import { fail, parseOrExit, progress, type Verb } from "./args.ts";
import { openDatabase } from "../stack/db/database.ts";
import { findRunning, STATE_DIR } from "../stack/status_file.ts";

export const db: Verb = {
  name: "db",
  supabase: "supabase db reset",
  summary: "db reset: re-create the database from supabase/migrations, then supabase/seed.sql",
  usage: "usage: deno task db reset",
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
    progress(`Resetting ${databaseUrl ? "the DATABASE_URL database" : `${STATE_DIR}/db`}...`);
    try {
      const opened = await openDatabase({
        reset: true,
        dataDir: `${STATE_DIR}/db`,
        authenticatorPassword: crypto.randomUUID(), // set again by the next start
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
