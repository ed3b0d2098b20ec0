/**
 * PostgREST / Postgres errors from supabase-js, mapped to the error contract. Database
 * messages are not passed through: they can name tables, columns and constraint internals.
 */
import { HttpError } from "./errors.ts";

interface DbError {
  code?: string;
  message?: string;
}

export function fromDbError(error: DbError, status?: number): HttpError {
  const code = error.code ?? "";
  switch (code) {
    case "PGRST116": // .single() found no row (RLS hides other users' rows too)
      return new HttpError("not_found", "Not found.");
    case "23505":
      return new HttpError("conflict", "That already exists.");
    case "23502":
    case "23514":
    case "22001":
    case "22P02":
    case "22003":
      return new HttpError("invalid_body", "A value is missing, too long or of the wrong kind.");
    case "42501":
      return new HttpError("forbidden", "The database refused this operation for your role.");
    case "PGRST301":
    case "PGRST302":
      return new HttpError("invalid_signature", "The database API rejected the token.", {
        hint: "Third-party issuers must also be configured for the database API (native mode).",
      });
    case "57014":
      return new HttpError("upstream_error", "The database took too long to answer.");
  }
  if (status === 401) {
    return new HttpError("invalid_signature", "The database API rejected the token.");
  }
  return new HttpError("upstream_error", "The database API failed.", {
    hint: "See the function logs.",
    cause: new Error(`${code} ${error.message ?? ""}`.trim()),
  });
}
