/**
 * `startStack()`: database + PostgREST + local Auth + functions behind one gateway.
 * Used by `deno task start` and by the tests (random ports, in-memory database).
 */
import type { JWK } from "jose";
import { parseIssuers } from "../functions/_shared/issuers.ts";
import {
  assertSafeUrl,
  discoverJwksUrl,
  fetchJson,
  publicKeys,
} from "../functions/_shared/jwks.ts";
import { createAuthHandler } from "./auth.ts";
import { type Database, freePort, openDatabase } from "./db.ts";
import { createGateway, functionRegistry } from "./gateway.ts";
import { generateKeys, loadOrCreateKeys, publicSigningJwk, type StackKeys } from "./keys.ts";
import { findPostgrest, type Postgrest, startPostgrest } from "./postgrest.ts";
import { base64url } from "./keys.ts";

export interface StackOptions {
  /** Gateway port; 0 picks a free one. Default 54321. */
  port?: number;
  /** External PostgreSQL instead of PGlite. */
  databaseUrl?: string;
  /** PGlite data directory; null for in-memory. Default `.local/db`. */
  dataDir?: string | null;
  /** Where keys persist. Default `.local/keys.json`; null keeps them in memory. */
  keysPath?: string | null;
  reset?: boolean;
  /** Extra environment for functions (AUTH_ISSUERS, AUTH_CORS_ORIGINS, ...). */
  functionEnv?: Record<string, string>;
  log?: (line: string) => void;
  /** Sees a copy of every response the gateway sends (for leak scanning in tests). */
  observeResponses?: (request: Request, response: Response) => void;
}

export interface StackStatus {
  api_url: string;
  functions_url: string;
  anon_key: string;
  service_role_key: string;
  publishable_key: string;
  secret_key: string;
  jwt_secret: string;
  jwks_url: string;
  db_url: string;
}

export interface Stack {
  status: StackStatus;
  keys: StackKeys;
  db: Database;
  bootMs: number;
  /** Resolves if PostgREST dies while the stack runs. */
  crashed: Promise<number>;
  /** PostgREST's process id (tests kill it to check that a crash is reported). */
  postgrestPid: number;
  /** How often /auth/v1/.well-known/jwks.json was served (tests count fetches with it). */
  jwksServed(): number;
  stop(): Promise<void>;
}

const root = new URL("../", import.meta.url);

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const t0 = performance.now();
  const log = options.log ?? ((line: string) => console.error(line));
  const keysPath = options.keysPath === undefined
    ? new URL(".local/keys.json", root).pathname
    : options.keysPath;
  const keys = keysPath ? await loadOrCreateKeys(keysPath) : await generateKeys();
  const port = options.port === 0 ? await freePort() : options.port ?? 54321;
  const apiUrl = `http://127.0.0.1:${port}`;
  const issuer = `${apiUrl}/auth/v1`;
  const functionEnv = options.functionEnv ?? {};

  const bin = await findPostgrest(log);
  const db = await openDatabase({
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    dataDir: options.dataDir === undefined ? new URL(".local/db", root).pathname : options.dataDir,
    reset: options.reset ?? false,
    authenticatorPassword: keys.dbPassword,
  });

  let postgrest: Postgrest | null = null;
  let server: Deno.HttpServer | null = null;
  let crashed!: (code: number) => void;
  const crashPromise = new Promise<number>((resolve) => (crashed = resolve));
  try {
    const thirdParty = await nativeIssuerKeys(
      functionEnv.AUTH_ISSUERS ?? Deno.env.get("AUTH_ISSUERS"),
      log,
    );
    postgrest = await startPostgrest(bin, {
      dbUri: db.postgrestUri,
      singleSession: db.singleSession,
      jwks: {
        keys: [
          { kty: "oct", k: base64url(keys.jwtSecret), alg: "HS256" },
          publicSigningJwk(keys),
          ...thirdParty,
        ],
      },
      log,
      onCrash: (code) => {
        log(
          `[stack] PostgREST exited unexpectedly (code ${code}); /rest/v1 answers 502 until restart`,
        );
        crashed(code);
      },
    });

    const status: StackStatus = {
      api_url: apiUrl,
      functions_url: `${apiUrl}/functions/v1`,
      anon_key: keys.anonKey,
      service_role_key: keys.serviceRoleKey,
      publishable_key: keys.publishableKey,
      secret_key: keys.secretKey,
      jwt_secret: keys.jwtSecret,
      jwks_url: `${issuer}/.well-known/jwks.json`,
      db_url: db.url,
    };

    // The environment a hosted function gets, plus the local stack's own settings.
    const env: Record<string, string> = {
      SUPABASE_URL: apiUrl,
      SUPABASE_ANON_KEY: keys.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
      SUPABASE_DB_URL: db.url,
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: keys.publishableKey }),
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: keys.secretKey }),
      SUPABASE_JWKS: JSON.stringify({ keys: [publicSigningJwk(keys)] }),
      SB_JWT_SECRET: keys.jwtSecret,
      ...functionEnv,
    };
    for (const [name, value] of Object.entries(env)) Deno.env.set(name, value);

    const roleTokens = new Map<string, string>([
      [keys.publishableKey, keys.anonKey],
      [keys.anonKey, keys.anonKey],
      [keys.secretKey, keys.serviceRoleKey],
      [keys.serviceRoleKey, keys.serviceRoleKey],
    ]);
    const pg = postgrest;
    const authHandler = createAuthHandler({
      sql: db.sql,
      keys,
      issuer,
      isSecretKey: (v) => v === keys.secretKey || v === keys.serviceRoleKey,
    });
    let jwksServed = 0;
    const gateway = createGateway({
      postgrestUrl: () => (pg.running() ? pg.url : null),
      auth: (request, path) => {
        if (path === "/.well-known/jwks.json") jwksServed++;
        return authHandler(request, path);
      },
      roleTokenForKey: (key) => roleTokens.get(key) ?? null,
      isApiKeyShaped: (v) => v.startsWith("sb_") || roleTokens.has(v),
      functions: functionRegistry(new URL("functions/", root)),
      log,
      ...(options.observeResponses ? { observe: options.observeResponses } : {}),
    });
    server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, gateway);

    return {
      status,
      keys,
      db,
      bootMs: Math.round(performance.now() - t0),
      crashed: crashPromise,
      jwksServed: () => jwksServed,
      postgrestPid: pg.pid,
      async stop() {
        await server?.shutdown();
        await postgrest?.stop();
        await db.close();
      },
    };
  } catch (error) {
    await server?.shutdown();
    await postgrest?.stop();
    await db.close();
    throw error;
  }
}

/** Public keys of native third-party issuers, so PostgREST accepts their tokens too. */
async function nativeIssuerKeys(
  raw: string | undefined,
  log: (line: string) => void,
): Promise<JWK[]> {
  if (!raw) return [];
  const keys: JWK[] = [];
  for (const spec of parseIssuers(raw)) {
    if (spec.mode !== "native") continue;
    const limits = { timeoutMs: 3_000, maxBytes: 256 * 1024, fetch: globalThis.fetch };
    try {
      // The same discovery and key checks the functions apply, so PostgREST trusts exactly
      // the keys the functions would.
      const url = spec.jwksUrl ?? await discoverJwksUrl(spec.issuer, limits);
      assertSafeUrl(url, "JWKS URL");
      const found = publicKeys(await fetchJson(url, limits), url.href, log);
      keys.push(...found);
      log(`[stack] PostgREST trusts ${found.length} key(s) of ${spec.issuer}`);
    } catch (error) {
      log(
        `[stack] could not fetch keys of ${spec.issuer}: ${
          (error as Error).message
        }; PostgREST will not accept its tokens`,
      );
    }
  }
  return keys;
}
