/**
 * `startStack()`: database + PostgREST + local Auth + functions behind one gateway.
 * Used by `deno task start` and by the tests (random ports, in-memory database).
 */
import { createLocalJWKSet, decodeProtectedHeader, type JWK, jwtVerify } from "jose";
import { type AuthConfig, loadConfig } from "../functions/_shared/mod.ts";
import { createAuthService } from "./auth/handler.ts";
import { type HookSettings, readHookSettings } from "./auth/hooks.ts";
import { type AuthSettings, readAuthSettings } from "./auth/settings.ts";
import { DEFAULT_MAX_BODY_BYTES } from "./runtime/body_limit.ts";
import { bootstrap, type Database, openDatabase, resetDatabase } from "./db/database.ts";
import { readDbSettings } from "./db/settings.ts";
import { createGateway, type FunctionRegistry } from "./runtime/gateway.ts";
import { functionRegistry } from "./runtime/in_process.ts";
import { CallChains } from "./runtime/call_chain.ts";
import { openFrontDoor } from "./runtime/front_door.ts";
import { type GatewaySettings, readGatewaySettings } from "./runtime/gateway_settings.ts";
import { type ProcessRuntime, startProcessRuntime } from "./runtime/registry.ts";
import {
  generateKeys,
  loadOrCreateKeys,
  publicSigningJwks,
  type StackKeys,
  withProjectKeys,
} from "./keys.ts";
import { readProjectKeySettings } from "./auth/project_keys.ts";
import { appOrigins, readThirdParty } from "./issuers/third_party.ts";
import { buildIssuerSet, entryForm, type IssuerSet } from "./issuers/issuer_set.ts";
import { type StandIns, startStandIns } from "./issuers/stand_ins.ts";
import { functionsEnvFile, readEnvFile } from "./runtime/functions_config.ts";
import { findPostgrest, type Postgrest, startPostgrest } from "./db/postgrest.ts";
import { base64url } from "./keys.ts";
import { createRestAuthorizer } from "./runtime/rest_auth.ts";
import { type LocalInbox, readInboxSettings, startInbox } from "./mail/local_inbox.ts";
import { keepTokenIssuers, syncTokenIssuers, tokenIssuerRows } from "./db/token_issuers.ts";

export interface StackOptions {
  /** Gateway port; 0 picks a free one. Default 54321. */
  port?: number;
  /** External PostgreSQL instead of the embedded server. */
  databaseUrl?: string;
  /** The embedded server's cluster; null for a throwaway one. Default `<stateDir>/postgres/<major>`. */
  dataDir?: string | null;
  /** Where the stack keeps its state (default `.local`). */
  stateDir?: string;
  /** The embedded server's port; 0 picks a free one. Default `[db] port` (54322), or a free one
   * when `port` is 0. */
  dbPort?: number;
  /** Where keys persist. Default `.local/keys.json`; null keeps them in memory. */
  keysPath?: string | null;
  reset?: boolean;
  /** Largest request body at /rest/v1 and /functions/v1 (default GATEWAY_MAX_BODY_BYTES or 10 MiB). */
  maxBodyBytes?: number;
  /** Extra environment for functions (AUTH_ISSUERS, AUTH_CORS_ORIGINS, ...). */
  functionEnv?: Record<string, string>;
  /**
   * How functions run: each in its own process, as the edge runtime isolates them (default),
   * or imported into the stack's process (the bench compares the two).
   */
  functionIsolation?: "process" | "in-process";
  /**
   * Functions are found as the Supabase CLI finds them, from `configToml` (supabase/functions/
   * and [functions.<name>] blocks); `functionsDir` is only where in-process functions live.
   */
  functionsDir?: string;
  /** The functions' secrets (default supabase/functions/.env, as the CLI reads it). */
  envFile?: string;
  /** supabase/config.toml to read (tests point this at their own). */
  configToml?: string;
  /** Open the V8 inspector for this function on [edge_runtime] inspector_port. */
  inspectFunction?: string;
  /** Overrides of supabase/config.toml's [auth] settings (tests start stacks with others). */
  authSettings?: Partial<AuthSettings>;
  /** `[auth.hook.*]` instead of config.toml's (tests). */
  authHooks?: HookSettings;
  /** The inbox's web/API port (`[inbucket] port`, 54324); 0 picks a free one (the default
   * when `port` is 0). */
  inboxPort?: number;
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
  /** The local inbox (Mailpit's API), or null when `[inbucket] enabled = false`. */
  inbox_url: string | null;
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
  /** PostgREST's own address, behind the gateway (the bench compares the two). */
  postgrestUrl: string;
  /** The configuration the gateway and the functions were started with. */
  config: AuthConfig;
  /** The trusted issuers: what a hosted project sets, and what runs here (stand-in keys). */
  issuers: IssuerSet;
  standIns: StandIns;
  /** The function processes (null with `functionIsolation: "in-process"`). */
  runtime: ProcessRuntime | null;
  /** The local inbox (null when `[inbucket] enabled = false`). */
  inbox: LocalInbox | null;
  /** How often /auth/v1/.well-known/jwks.json was served (tests count fetches with it). */
  jwksServed(): number;
  /** Client connections open at the stack's port right now. */
  openConnections(): number;
  stop(): Promise<void>;
}

const root = new URL("../", import.meta.url);

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const t0 = performance.now();
  const log = options.log ?? ((line: string) => console.error(line));
  const { keys, listener, apiUrl, bin, db, configTomlPath, configText, issuer, issuers } =
    await prepare(options, log);
  // Started parts, stopped in reverse order, also when a later part fails to start.
  const parts: { stop(): Promise<void> | void }[] = [
    { stop: () => closeListener(listener) },
    { stop: () => db.close() },
  ];
  const stopAll = async () => {
    for (const part of parts.reverse()) await part.stop();
  };
  let crashed!: (code: number) => void;
  const crashPromise = new Promise<number>((resolve) => (crashed = resolve));
  try {
    const env = functionEnvironment(apiUrl, keys, db, options, issuer);
    env.AUTH_ISSUERS = JSON.stringify(issuers.local);
    if (options.functionIsolation === "in-process") Deno.env.set("AUTH_ISSUERS", env.AUTH_ISSUERS);
    const standIns = await startStandIns({
      specs: issuers.standIns,
      keysPath: options.keysPath === null
        ? null
        : `${options.stateDir ?? new URL(".local", root).pathname}/stand-ins.json`,
      apiUrl,
      allowedOrigins: appOrigins(configText),
      isSecretKey: (value) => value !== null && keys.secretKey === value,
    });
    // The configuration every function reads; a bad AUTH_ISSUERS stops the start here.
    const config = loadConfig((name) => env[name] ?? Deno.env.get(name));
    await syncTokenIssuers(db.sql, tokenIssuerRows(config));
    const issuersKept = keepTokenIssuers(db.sql, tokenIssuerRows(config));
    parts.push({ stop: () => issuersKept.stop() });
    // The database going away ends the stack as PostgREST's crash does: nothing works without it.
    db.server?.exited.then((code) => crashed(code));
    const pg = await startPostgrestFor(bin, db, keys, log, crashed);
    parts.push(pg);

    const inboxSettings = readInboxSettings(configText);
    const inbox = inboxSettings.enabled
      ? await startInbox({
        port: options.inboxPort ?? (options.port === 0 ? 0 : inboxSettings.port),
        smtpPort: options.port === 0 ? 0 : inboxSettings.smtpPort ?? 0,
      })
      : null;
    if (inbox) parts.push(inbox);
    const authService = await createAuthService({
      sql: db.sql,
      keys,
      issuer,
      externalUrl: `${apiUrl}/auth/v1`,
      settings: authSettings(configTomlPath, configText, env, options),
      apiKeyKind: (v) => (v === null ? null : config.apiKeys.match(v)?.kind ?? null),
      inboxSmtpPort: inbox?.smtpPort ?? null,
      hooks: options.authHooks ??
        readHookSettings(configText, (name) => env[name] ?? Deno.env.get(name)),
      log,
    });
    parts.push({ stop: () => authService.close() });
    const maxBodyBytes = options.maxBodyBytes ??
      positiveInteger("GATEWAY_MAX_BODY_BYTES", env.GATEWAY_MAX_BODY_BYTES) ??
      DEFAULT_MAX_BODY_BYTES;
    const { functions, runtime } = await startFunctions(options, {
      configTomlPath,
      env,
      pg,
      keys,
      log,
      maxBodyBytes,
    });
    if (runtime) parts.push({ stop: () => runtime.close() });

    const served = serveGateway(listener, {
      db,
      keys,
      config,
      pg,
      auth: authService,
      functions,
      maxBodyBytes,
      standIns,
      gatewaySettings: readGatewaySettings(env),
      log,
      ...(options.observeResponses ? { observe: options.observeResponses } : {}),
    });
    parts.push({ stop: () => served.stop() });

    return {
      status: statusOf(apiUrl, keys, db, inbox),
      keys,
      db,
      bootMs: Math.round(performance.now() - t0),
      crashed: crashPromise,
      jwksServed: served.jwksServed,
      openConnections: served.openConnections,
      postgrestPid: pg.pid,
      postgrestUrl: pg.url,
      config,
      runtime,
      inbox,
      issuers,
      standIns,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Keys, port, the PostgREST binary and the database: what every other part needs. */
async function prepare(options: StackOptions, log: (line: string) => void) {
  // The port is bound now, not when the gateway starts: with port 0 the system picks it, and no
  // database or PostgREST port chosen meanwhile (here or by a stack starting next to this one)
  // can take it.
  const wanted = options.port ?? 54321;
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: "127.0.0.1", port: wanted });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(`port ${wanted} is in use by another program (pass another port)`);
    }
    throw error;
  }
  const port = (listener.addr as Deno.NetAddr).port;
  const apiUrl = `http://127.0.0.1:${port}`;
  try {
    return { listener, ...await prepareParts(options, log, apiUrl) };
  } catch (error) {
    closeListener(listener);
    throw error;
  }
}

function closeListener(listener: Deno.TcpListener): void {
  try {
    listener.close();
  } catch { /* closed by the gateway already */ }
}

async function prepareParts(
  options: StackOptions,
  log: (line: string) => void,
  apiUrl: string,
) {
  const keysPath = options.keysPath === undefined
    ? new URL(".local/keys.json", root).pathname
    : options.keysPath;
  const configTomlPath = options.configToml ?? new URL("supabase/config.toml", root).pathname;
  const configText = await Deno.readTextFile(configTomlPath).catch(() => null);
  const dbSettings = readDbSettings(configText);
  // The keys config.toml names (jwt_secret, signing_keys_path) over the generated ones.
  const projectKeys = await readProjectKeySettings(
    configText,
    configTomlPath.replace(/\/[^/]*$/, ""),
  );
  const keys = await withProjectKeys(
    keysPath ? await loadOrCreateKeys(keysPath) : await generateKeys(),
    projectKeys,
  );
  const issuer = projectKeys.jwtIssuer ?? `${apiUrl}/auth/v1`;
  // One issuer list for both doors: config.toml's [auth.third_party.*] and the entry form,
  // with stand-in keys for issuers whose own are not on this machine. Read before the database
  // opens: a mistake there stops the start at once, with no cluster made for nothing.
  const issuers = issuerSet(configTomlPath, configText, options, apiUrl);
  const bin = await findPostgrest(log);
  const db = await openDatabase({
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    dataDir: options.dataDir === undefined
      ? `${
        options.stateDir ?? new URL(".local", root).pathname
      }/postgres/${dbSettings.majorVersion}`
      : options.dataDir,
    port: options.dbPort ?? (options.port === 0 ? 0 : dbSettings.port),
    ...(options.dataDir === undefined
      ? { ownFolder: options.stateDir ?? new URL(".local", root).pathname }
      : {}),
    majorVersion: dbSettings.majorVersion,
    reset: options.reset ?? false,
    authenticatorPassword: keys.dbPassword,
    log,
  });
  return { keys, apiUrl, bin, db, configTomlPath, configText, issuer, issuers };
}

/**
 * The gateway: Deno.serve on a Unix socket only this user can reach, behind the front door on
 * the stack's port (the connection cap), plus the local db-reset endpoint `deno task db` uses.
 */
function serveGateway(listener: Deno.TcpListener, parts: {
  db: Database;
  keys: StackKeys;
  config: AuthConfig;
  pg: Postgrest;
  auth: {
    handle(
      request: Request,
      path: string,
      client: string | undefined,
      requestId?: string,
    ): Promise<Response>;
  };
  functions: FunctionRegistry;
  maxBodyBytes: number;
  standIns: StandIns;
  gatewaySettings: GatewaySettings;
  log: (line: string) => void;
  observe?: (request: Request, response: Response) => void;
}): { stop(): Promise<void>; jwksServed(): number; openConnections(): number } {
  const { db, keys, config, pg } = parts;
  let jwksServed = 0;
  const gateway = createGateway({
    postgrestUrl: () => (pg.running() ? pg.url : null),
    auth: (request, path, client, requestId) => {
      if (path === "/.well-known/jwks.json") jwksServed++;
      return parts.auth.handle(request, path, client, requestId);
    },
    isProjectKey: projectKeyCheck(config, keys),
    restAuthorization: createRestAuthorizer({
      config,
      anonToken: keys.anonKey,
      serviceRoleToken: keys.serviceRoleKey,
    }),
    maxBodyBytes: parts.maxBodyBytes,
    functions: parts.functions,
    callChains: new CallChains(parts.gatewaySettings.functionCallsPerMinute),
    trustedProxies: parts.gatewaySettings.trustedProxies,
    log: parts.log,
    ...(parts.observe ? { observe: parts.observe } : {}),
    local: {
      "/_local/db/reset": databaseResetHandler(db, keys, config, parts.log),
      // Stand-in issuers: their keys, discovery, browser sign-in and minting.
      "/_local/idp/": (request) =>
        parts.standIns.handle(request, new URL(request.url).pathname.slice("/_local/idp".length)),
    },
  });
  const socketDir = Deno.makeTempDirSync({ prefix: "edge-stack-gateway-" });
  const socket = `${socketDir}/gateway.sock`;
  const server = Deno.serve({ path: socket, onListen: () => {} }, gateway);
  const door = openFrontDoor({
    listener,
    socket,
    maxConnections: parts.gatewaySettings.maxConnections,
    idleMs: parts.gatewaySettings.idleMs,
    log: parts.log,
  });
  return {
    async stop() {
      // Requests in flight are answered (shutdown waits for them), then what is left closes.
      door.stopAccepting();
      await server.shutdown();
      door.close();
      await Deno.remove(socketDir, { recursive: true }).catch(() => {});
    },
    jwksServed: () => jwksServed,
    openConnections: door.open,
  };
}

/** The environment a hosted function gets, plus the local stack's own settings. */
function functionEnvironment(
  apiUrl: string,
  keys: StackKeys,
  db: Database,
  options: StackOptions,
  issuer: string,
): Record<string, string> {
  const env: Record<string, string> = {
    // Where [auth] jwt_issuer moves Auth's `iss`, the functions must expect it.
    ...(issuer !== `${apiUrl}/auth/v1` ? { AUTH_SUPABASE_ISSUER: issuer } : {}),
    SUPABASE_URL: apiUrl,
    SUPABASE_ANON_KEY: keys.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
    SUPABASE_DB_URL: db.url,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: keys.publishableKey }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: keys.secretKey }),
    SUPABASE_JWKS: JSON.stringify({ keys: publicSigningJwks(keys) }),
    SB_JWT_SECRET: keys.jwtSecret,
    ...options.functionEnv,
  };
  // Functions imported into this process read their settings from its environment.
  if (options.functionIsolation === "in-process") {
    for (const [name, value] of Object.entries(env)) Deno.env.set(name, value);
  }
  return env;
}

/**
 * PostgREST trusts the project's keys only: other issuers' tokens are checked and re-signed
 * by the gateway (stack/runtime/rest_auth.ts), which knows their limits.
 */
function startPostgrestFor(
  bin: string,
  db: Database,
  keys: StackKeys,
  log: (line: string) => void,
  crashed: (code: number) => void,
): Promise<Postgrest> {
  return startPostgrest(bin, {
    dbUri: db.postgrestUri,
    jwks: {
      keys: [
        { kty: "oct", k: base64url(keys.jwtSecret), alg: "HS256" },
        ...publicSigningJwks(keys),
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
}

/** config.toml's [auth], LOCAL_AUTH_JWT_ALG, then the caller's overrides (tests). */
function authSettings(
  configTomlPath: string,
  configToml: string | null,
  env: Record<string, string>,
  options: StackOptions,
): AuthSettings {
  const alg = env.LOCAL_AUTH_JWT_ALG ?? Deno.env.get("LOCAL_AUTH_JWT_ALG");
  // content_path is relative to the folder holding supabase/, as the CLI reads it.
  const projectRoot = configTomlPath.replace(/\/[^/]*$/, "").replace(/\/[^/]*$/, "") || ".";
  const read = readAuthSettings(
    configToml,
    alg,
    projectRoot,
    (name) => env[name] ?? Deno.env.get(name),
  );
  const over = options.authSettings ?? {};
  return { ...read, ...over, email: { ...read.email, ...(over.email ?? {}) } };
}

/** Functions in their own processes (the default), or imported here (the bench compares). */
async function startFunctions(
  options: StackOptions,
  given: {
    configTomlPath: string;
    env: Record<string, string>;
    pg: Postgrest;
    keys: StackKeys;
    log: (line: string) => void;
    maxBodyBytes: number;
  },
): Promise<{ functions: FunctionRegistry; runtime: ProcessRuntime | null }> {
  if (options.functionIsolation === "in-process") {
    const functionsDir = options.functionsDir ?? new URL("functions", root).pathname;
    return { functions: functionRegistry(new URL(`file://${functionsDir}/`)), runtime: null };
  }
  const runtime = await startProcessRuntime({
    configToml: given.configTomlPath,
    importMap: new URL("import_map.json", root).pathname,
    denoConfig: new URL("deno.json", root).pathname,
    ...(options.envFile ? { envFile: options.envFile } : {}),
    // Inside a function, SUPABASE_URL is the gateway, as on the platform; its own /rest/v1
    // calls go straight to PostgREST after the same checks (function_host.ts).
    baseEnv: {
      ...given.env,
      SUPABASE_INTERNAL_POSTGREST_URL: given.pg.url,
      SUPABASE_INTERNAL_MAX_BODY_BYTES: String(given.maxBodyBytes),
    },
    fixedEnv: { AUTH_ISSUERS: given.env.AUTH_ISSUERS! },
    jwtSecret: given.keys.jwtSecret,
    signingJwks: publicSigningJwks(given.keys) as JWK[],
    log: given.log,
    ...(options.inspectFunction ? { inspectFunction: options.inspectFunction } : {}),
  });
  return { functions: runtime, runtime };
}

/** `deno task db reset` while the stack runs: the stack owns the database, so it resets it. */
function databaseResetHandler(
  db: Database,
  keys: StackKeys,
  config: AuthConfig,
  log: (line: string) => void,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const key = request.headers.get("apikey");
    if (request.method !== "POST" || key === null || config.apiKeys.match(key)?.kind !== "secret") {
      return Response.json(
        { code: "invalid_api_key", message: "POST with the secret key as apikey." },
        { status: 401 },
      );
    }
    try {
      await resetDatabase(db.sql);
      const { applied } = await bootstrap(db, { authenticatorPassword: keys.dbPassword });
      await syncTokenIssuers(db.sql, tokenIssuerRows(config));
      await db.sql`notify pgrst, 'reload schema'`; // PostgREST reloads its schema cache
      log(`[stack] database reset: ${applied.length} migrations applied, seed loaded`);
      return Response.json({ applied });
    } catch (error) {
      return Response.json({ code: "reset_failed", message: (error as Error).message }, {
        status: 400,
      });
    }
  };
}

function statusOf(
  apiUrl: string,
  keys: StackKeys,
  db: Database,
  inbox: LocalInbox | null,
): StackStatus {
  return {
    api_url: apiUrl,
    functions_url: `${apiUrl}/functions/v1`,
    anon_key: keys.anonKey,
    service_role_key: keys.serviceRoleKey,
    publishable_key: keys.publishableKey,
    secret_key: keys.secretKey,
    jwt_secret: keys.jwtSecret,
    jwks_url: `${apiUrl}/auth/v1/.well-known/jwks.json`,
    db_url: db.url,
    inbox_url: inbox?.url ?? null,
  };
}

/**
 * What /auth/v1 takes as its apikey: one of the project's keys, or, as the Supabase CLI's
 * gateway passes them on, a JWT with role anon or service_role signed by one of the project's
 * keys (the legacy secret or the signing keys), such as keys minted with `signing_keys_path`.
 */
function projectKeyCheck(
  config: AuthConfig,
  keys: StackKeys,
): (value: string) => boolean | Promise<boolean> {
  const jwks = createLocalJWKSet({ keys: publicSigningJwks(keys) });
  const secret = new TextEncoder().encode(keys.jwtSecret);
  return (value) => {
    if (config.apiKeys.match(value) !== null) return true;
    if (!/^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(value)) return false;
    const check = decodeProtectedHeader(value).alg === "HS256"
      ? jwtVerify(value, secret, { algorithms: ["HS256"] })
      : jwtVerify(value, jwks, { algorithms: ["ES256", "RS256"] });
    return check.then(
      ({ payload }) => payload.role === "anon" || payload.role === "service_role",
      () => false,
    );
  };
}

/** A positive whole number from the environment, or undefined when unset. */
function positiveInteger(name: string, raw: string | undefined): number | undefined {
  const value = raw ?? Deno.env.get(name);
  if (value === undefined || value.trim() === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number`);
  return n;
}

/** The issuer set from config.toml and the entry form's one place (see stack/issuers/). */
/** config.toml is read once, in prepare(); every part gets its text. */
function issuerSet(
  configTomlPath: string,
  configText: string | null,
  options: StackOptions,
  apiUrl: string,
) {
  const file = options.envFile ?? functionsEnvFile(configTomlPath).path;
  return buildIssuerSet({
    thirdParty: readThirdParty(configText),
    entryForm: entryForm([
      { name: file, value: readEnvFile(file).env.AUTH_ISSUERS },
      { name: "the environment of deno task start", value: Deno.env.get("AUTH_ISSUERS") },
      { name: "startStack's functionEnv", value: options.functionEnv?.AUTH_ISSUERS },
    ]),
    apiUrl,
  });
}
