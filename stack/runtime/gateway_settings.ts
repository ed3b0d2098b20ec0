/**
 * The gateway's own settings, from the environment (these are the local stack's, not the
 * Supabase CLI's: config.toml has no key for them).
 */

export interface GatewaySettings {
  /** Open client connections at most (GATEWAY_MAX_CONNECTIONS). */
  maxConnections: number;
  /** A connection with no traffic either way this long is closed (GATEWAY_IDLE_TIMEOUT_SEC). */
  idleMs: number;
  /** Peers whose X-Forwarded-For names the client (GATEWAY_TRUSTED_PROXIES, comma-separated). */
  trustedProxies: ReadonlySet<string>;
  /** Function-to-function calls per request chain and minute (FUNCTION_CALLS_PER_MINUTE). */
  functionCallsPerMinute: number;
}

/** The process's open-file limit, from /proc (null off Linux). */
function openFileLimit(): number | null {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    return soft ? Number(soft) : null;
  } catch {
    return null;
  }
}

export function readGatewaySettings(env: Record<string, string | undefined>): GatewaySettings {
  const get = (name: string) => env[name] ?? Deno.env.get(name);
  const whole = (name: string, fallback: number, min: number) => {
    const raw = get(name);
    if (raw === undefined || raw.trim() === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      throw new Error(`${name} must be a whole number >= ${min}`);
    }
    return n;
  };
  // Each relayed connection holds three descriptors (client, and both ends of the Unix
  // socket); leave the rest of the limit to the database pool, PostgREST and functions.
  const limit = openFileLimit();
  const fallback = limit === null ? 4096 : Math.max(64, Math.min(4096, Math.floor(limit / 4)));
  const proxies = (get("GATEWAY_TRUSTED_PROXIES") ?? "").split(",").map((p) => p.trim())
    .filter(Boolean);
  return {
    maxConnections: whole("GATEWAY_MAX_CONNECTIONS", fallback, 1),
    idleMs: whole("GATEWAY_IDLE_TIMEOUT_SEC", 420, 1) * 1000,
    trustedProxies: new Set(proxies),
    // The platform's budget is "at least 5,000 a minute" per chain.
    functionCallsPerMinute: whole("FUNCTION_CALLS_PER_MINUTE", 5000, 1),
  };
}
