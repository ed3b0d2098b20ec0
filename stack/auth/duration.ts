/** Go's time.ParseDuration, which Auth uses for ban_duration and config.toml's max_frequency. */
import { badRequest } from "./errors.ts";

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1e3,
  m: 60e3,
  h: 3600e3,
};

/** "24h", "1h30m", "90s", "1s" in milliseconds; `what` names the field in the 400. */
export function parseGoDuration(text: string, what: string): number {
  const ms = tryParseGoDuration(text);
  if (ms === null) {
    throw badRequest(
      "validation_failed",
      `invalid format for ${what}: time: invalid duration "${
        text.length > 40 ? "..." : text.replace(/[^\x20-\x7e]/g, "")
      }"`,
    );
  }
  return ms;
}

export function tryParseGoDuration(text: string): number | null {
  if (text === "0") return 0;
  if (!/^([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+$/.test(text)) return null;
  const parts = [...text.matchAll(/([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/g)];
  return parts.reduce((ms, [, n, u]) => ms + Number(n) * UNIT_MS[u!]!, 0);
}
