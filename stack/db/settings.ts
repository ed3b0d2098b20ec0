/** `[db]` of supabase/config.toml as the local database honours it, with the CLI's defaults. */
import { parse } from "smol-toml";
import { DEFAULT_DB_PORT, DEFAULT_MAJOR_VERSION } from "./database.ts";

export interface DbSettings {
  /** `[db] port`: where the embedded server listens (54322). */
  port: number;
  /** `[db] major_version`: which PostgreSQL the embedded server is (15). */
  majorVersion: number;
}

export function readDbSettings(tomlText: string | null): DbSettings {
  const root = tomlText === null ? {} : parse(tomlText) as Record<string, unknown>;
  const db = (root.db ?? {}) as Record<string, unknown>;
  const whole = (key: string, fallback: number, min: number, max: number) => {
    const value = db[key];
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(
        `supabase/config.toml: db.${key} must be a whole number from ${min} to ${max}`,
      );
    }
    return value;
  };
  return {
    port: whole("port", DEFAULT_DB_PORT, 1, 65535),
    majorVersion: whole("major_version", DEFAULT_MAJOR_VERSION, 13, 99),
  };
}
