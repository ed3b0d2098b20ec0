/**
 * Fills `private.token_issuers` (supabase/migrations/*_token_issuers.sql) from the same
 * configuration the functions read, so `requesting_user_id()` knows exactly the issuers
 * the functions and the gateway trust, with the same id prefixes, id claims and audiences.
 */
import type { AuthConfig } from "../../functions/_shared/mod.ts";
import type { Sql } from "./database.ts";

export interface TokenIssuerRow {
  iss: string;
  id_prefix: string;
  id_claim: string;
  audiences: string[] | null;
  authorized_parties: string[] | null;
}

/** Supabase Auth and minted tokens keep their `sub`; native issuers get their prefix. */
export function tokenIssuerRows(config: AuthConfig): TokenIssuerRow[] {
  const project = (iss: string): TokenIssuerRow => ({
    iss,
    id_prefix: "",
    id_claim: "sub",
    audiences: ["authenticated"],
    authorized_parties: null,
  });
  const rows = [project(config.supabaseIssuer), project(config.exchange.issuer)];
  for (const spec of config.issuers) {
    // Exchange issuers' own tokens never reach the database: only what is minted from them.
    if (spec.mode !== "native") continue;
    rows.push({
      iss: spec.issuer,
      id_prefix: spec.idPrefix,
      id_claim: spec.userIdClaim,
      audiences: spec.audience ? [...spec.audience] : null,
      authorized_parties: spec.authorizedParties ? [...spec.authorizedParties] : null,
    });
  }
  return rows;
}

/** Replace the table's rows in one transaction: the database trusts what the config says now. */
export async function syncTokenIssuers(sql: Sql, rows: TokenIssuerRow[]): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`delete from private.token_issuers`;
    for (const row of rows) {
      await tx`insert into private.token_issuers
        (iss, id_prefix, id_claim, audiences, authorized_parties)
        values (${row.iss}, ${row.id_prefix}, ${row.id_claim},
                ${row.audiences}, ${row.authorized_parties})`;
    }
  });
}

/**
 * Keep the table in step while the stack runs: a reset made from outside (`supabase db reset
 * --db-url`) empties it, and then `requesting_user_id()` would match nobody until a restart.
 * Every `intervalMs`, a table with other rows than the configuration's is filled again. A
 * database without the table (a project that dropped the migration) is left alone.
 */
export function keepTokenIssuers(
  sql: Sql,
  rows: TokenIssuerRow[],
  intervalMs = 2000,
): { stop(): void } {
  const wanted = rows.map((r) => r.iss).sort().join("\n");
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const [{ present }] =
        await sql`select to_regclass('private.token_issuers') is not null as present`;
      if (!present) return;
      const have = (await sql`select iss from private.token_issuers order by iss`).map((r) => r.iss)
        .join("\n");
      if (have !== wanted) await syncTokenIssuers(sql, rows);
    } catch {
      /* the database is restarting or being reset: try again next time */
    } finally {
      busy = false;
    }
  }, intervalMs);
  return { stop: () => clearInterval(timer) };
}
