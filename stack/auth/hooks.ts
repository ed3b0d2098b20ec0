/**
 * Auth hooks as `[auth.hook.<name>]` of config.toml sets them and GoTrue runs them (supabase/auth
 * internal/hooks): `custom_access_token` (claims of every access token), `before_user_created`
 * (may refuse a sign-up), `password_verification_attempt` (may refuse a password sign-in) and
 * `send_email` (sends Auth's mails itself).
 *
 * - `pg-functions://<database>/<schema>/<function>`: `select <schema>.<function>(event)` in a
 *   transaction as `supabase_auth_admin` (search_path `auth`), with a 2 s statement_timeout.
 * - `http(s)://...`: a POST signed as Standard Webhooks (`secrets = "v1,whsec_..."`, with the
 *   maintained standardwebhooks library), 5 s in all, retried on network errors and on 429/503
 *   with Retry-After; 204 means "no output"; 200/202 must be JSON, at most 200 KB.
 *
 * A hook's `{"error": {"http_code": N, "message": "..."}}` reaches the client as that status
 * and message (code `unexpected_failure` for 500, else `unknown`, as GoTrue answers).
 */
import { parse } from "smol-toml";
import type { Sql } from "../db/database.ts";
import { AuthError } from "./errors.ts";

export const HOOK_NAMES = [
  "custom_access_token",
  "before_user_created",
  "password_verification_attempt",
  "send_email",
] as const;
export type HookName = typeof HOOK_NAMES[number];

/** Hooks GoTrue has that the local Auth does not run: enabling one stops the start. */
const NOT_HERE = ["mfa_verification_attempt", "send_sms", "after_user_created"];

const METADATA_NAME: Record<HookName, string> = {
  custom_access_token: "customize-access-token",
  before_user_created: "before-user-created",
  password_verification_attempt: "password-verification",
  send_email: "send-email",
};

export interface HookConfig {
  uri: string;
  secrets: string[];
}
export type HookSettings = Partial<Record<HookName, HookConfig>>;

const PG_TIMEOUT_MS = 2000;
const HTTP_TIMEOUT_MS = 5000;
const HTTP_RETRIES = 3;
const HTTP_BACKOFF_MS = 2000;
const PAYLOAD_LIMIT = 200 * 1024;

type Table = Record<string, unknown>;

/** `[auth.hook.*]`; an enabled hook without a usable uri or secret stops the start, named. */
export function readHookSettings(
  tomlText: string | null,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): HookSettings {
  const root = tomlText === null ? {} : parse(tomlText) as Table;
  const table = (((root.auth ?? {}) as Table).hook ?? {}) as Table;
  const out: HookSettings = {};
  for (const [name, raw] of Object.entries(table)) {
    const at = `supabase/config.toml: [auth.hook.${name}]`;
    const hook = (raw ?? {}) as Table;
    if (hook.enabled !== true) continue;
    if (NOT_HERE.includes(name)) {
      throw new Error(`${at} is not run by the local Auth (it runs ${HOOK_NAMES.join(", ")})`);
    }
    if (!(HOOK_NAMES as readonly string[]).includes(name)) {
      throw new Error(`${at} is not a hook GoTrue knows (${HOOK_NAMES.join(", ")})`);
    }
    const uri = typeof hook.uri === "string" ? hook.uri : "";
    if (!/^pg-functions:\/\/[^/]+\/[^/]+\/[^/]+$/.test(uri) && !/^https?:\/\//.test(uri)) {
      throw new Error(
        `${at} uri must be pg-functions://<database>/<schema>/<function> or an http(s) URL`,
      );
    }
    const secrets = (typeof hook.secrets === "string" ? hook.secrets : "")
      .split("|").map((s) => s.trim()).filter((s) => s !== "")
      .map((s) => {
        const match = /^env\((\w+)\)$/.exec(s);
        if (!match) return s;
        const value = env(match[1]!);
        if (value === undefined) {
          throw new Error(`${at} secrets names env(${match[1]}), which is not set`);
        }
        return value;
      });
    if (uri.startsWith("http")) {
      if (secrets.length === 0) {
        throw new Error(`${at} an http(s) hook needs secrets = "v1,whsec_..."`);
      }
      for (const secret of secrets) {
        if (!secret.startsWith("v1,whsec_")) {
          throw new Error(`${at} secrets must look like "v1,whsec_<base64>" (Standard Webhooks)`);
        }
      }
    }
    out[name as HookName] = { uri, secrets };
  }
  return out;
}

/** A pg-functions URI's function, quoted: pg-functions://postgres/public/my_hook -> "public"."my_hook". */
function functionOf(uri: string): string {
  const [schema, fn] = uri.replace(/^pg-functions:\/\/[^/]+\//, "").split("/");
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${quote(schema!)}.${quote(fn!)}`;
}

/** GoTrue's hookserrors: an `error` with a message is the answer. */
function checkHookError(output: unknown): void {
  if (typeof output !== "object" || output === null) return;
  const error = (output as { error?: { http_code?: unknown; message?: unknown } }).error;
  if (
    !error || typeof error !== "object" || typeof error.message !== "string" || error.message === ""
  ) {
    return;
  }
  const status =
    typeof error.http_code === "number" && error.http_code >= 400 && error.http_code < 600
      ? error.http_code
      : 500;
  throw new AuthError(status, status === 500 ? "unexpected_failure" : "unknown", error.message);
}

export class Hooks {
  constructor(
    readonly sql: Sql,
    readonly settings: HookSettings,
    readonly log: (line: string) => void,
  ) {}

  enabled(name: HookName): boolean {
    return this.settings[name] !== undefined;
  }

  /**
   * Run a hook with GoTrue's event shape (`metadata` added); its parsed output, `null` for
   * an http hook's 204, or `undefined` when the hook is not configured.
   */
  async run(
    name: HookName,
    event: Record<string, unknown>,
    client?: string,
  ): Promise<Record<string, unknown> | null | undefined> {
    const hook = this.settings[name];
    if (!hook) return undefined;
    const input = {
      metadata: {
        uuid: crypto.randomUUID(),
        time: new Date().toISOString(),
        name: METADATA_NAME[name],
        ...(client ? { ip_address: client } : {}),
      },
      ...event,
    };
    const output = hook.uri.startsWith("pg-functions://")
      ? await this.#postgres(hook, input)
      : await this.#http(hook, input);
    checkHookError(output);
    if (output !== null && (typeof output !== "object" || Array.isArray(output))) {
      throw new AuthError(500, "unexpected_failure", "Error unmarshaling JSON output.");
    }
    return output as Record<string, unknown> | null;
  }

  async #postgres(hook: HookConfig, input: unknown): Promise<unknown> {
    try {
      return await this.sql.begin(async (tx) => {
        await tx`set local role supabase_auth_admin`;
        await tx.unsafe(`set local search_path = auth`);
        await tx.unsafe(`set local statement_timeout = ${PG_TIMEOUT_MS}`);
        // The parameter is typed jsonb: postgres.js serializes the object itself.
        const [row] = await tx.unsafe(`select ${functionOf(hook.uri)}($1::jsonb) as output`, [
          input as never,
        ]);
        const output = row?.output;
        return typeof output === "string" ? JSON.parse(output) : output ?? null;
      });
    } catch (error) {
      if (error instanceof AuthError) throw error;
      // The database's words go to the log (they may name the function's internals), not out.
      this.log(`[auth] hook ${hook.uri} failed: ${(error as Error).message.slice(0, 300)}`);
      throw new AuthError(500, "unexpected_failure", `Error running hook URI: ${hook.uri}`);
    }
  }

  async #http(hook: HookConfig, input: unknown): Promise<unknown> {
    const payload = JSON.stringify(input);
    const deadline = Date.now() + HTTP_TIMEOUT_MS;
    const timeout = () =>
      new AuthError(
        422,
        "hook_timeout",
        `Failed to reach hook within maximum time of ${
          (HTTP_TIMEOUT_MS / 1000).toFixed(6)
        } seconds`,
      );
    const { Webhook } = await import("standardwebhooks"); // only stacks with an HTTP hook
    for (let attempt = 0; attempt < HTTP_RETRIES; attempt++) {
      const id = crypto.randomUUID();
      const at = new Date();
      const signatures = hook.secrets.map((s) => new Webhook(s.slice(3)).sign(id, at, payload));
      let response: Response;
      try {
        response = await fetch(hook.uri, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "webhook-id": id,
            "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
            "webhook-signature": signatures.join(", "),
            "accept-encoding": "identity",
          },
          body: payload,
          redirect: "manual",
          signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
        });
      } catch (error) {
        if (Date.now() >= deadline || (error as Error).name === "TimeoutError") throw timeout();
        if (attempt === HTTP_RETRIES - 1) {
          throw new AuthError(
            422,
            "hook_timeout_after_retry",
            "Failed to reach hook after maximum retries",
          );
        }
        this.log(`[auth] hook ${hook.uri} attempt ${attempt + 1} failed; retrying`);
        await new Promise((r) => setTimeout(r, Math.min(HTTP_BACKOFF_MS, deadline - Date.now())));
        if (Date.now() >= deadline) throw timeout();
        continue;
      }
      const status = response.status;
      if (status === 204) {
        await response.body?.cancel();
        return null;
      }
      if (status === 200 || status === 202) {
        const type = response.headers.get("content-type");
        if (!type) {
          await response.body?.cancel();
          throw new AuthError(
            400,
            "hook_payload_invalid_content_type",
            "Invalid Content-Type: Missing Content-Type header",
          );
        }
        if (type.split(";")[0]!.trim().toLowerCase() !== "application/json") {
          await response.body?.cancel();
          throw new AuthError(
            400,
            "hook_payload_invalid_content_type",
            `Invalid JSON response. Received content-type: ${type.slice(0, 100)}`,
          );
        }
        const bytes = await readLimited(response, PAYLOAD_LIMIT);
        if (bytes === null) {
          throw new AuthError(
            422,
            "hook_payload_over_size_limit",
            `Payload size exceeded size limit of ${PAYLOAD_LIMIT} bytes`,
          );
        }
        try {
          return JSON.parse(new TextDecoder().decode(bytes));
        } catch {
          throw new AuthError(500, "unexpected_failure", "Error unmarshaling JSON output.");
        }
      }
      await response.body?.cancel();
      if ((status === 429 || status === 503) && response.headers.get("retry-after")) continue;
      const message = status === 429 || status === 503
        ? "Service currently unavailable due to hook"
        : status === 400
        ? "Invalid payload sent to hook"
        : status === 401
        ? "Hook requires authorization token"
        : `Unexpected status code returned from hook: ${status}`;
      throw new AuthError(500, "unexpected_failure", message);
    }
    throw new AuthError(500, "unexpected_failure", "Service currently unavailable due to hook");
  }
}

/** The body, or null when it is longer than `limit` bytes. */
async function readLimited(response: Response, limit: number): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += chunk.length;
    if (size > limit) {
      await response.body?.cancel().catch(() => {});
      return null;
    }
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

const REQUIRED_CLAIMS = [
  "aud",
  "exp",
  "iat",
  "sub",
  "email",
  "phone",
  "role",
  "aal",
  "session_id",
  "is_anonymous",
];
const CLAIM_TYPES: Record<string, (v: unknown) => boolean> = {
  aud: (v) => typeof v === "string" || Array.isArray(v),
  exp: Number.isInteger,
  iat: Number.isInteger,
  nbf: Number.isInteger,
  jti: (v) => typeof v === "string",
  iss: (v) => typeof v === "string",
  sub: (v) => typeof v === "string",
  email: (v) => typeof v === "string",
  phone: (v) => typeof v === "string",
  app_metadata: (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  user_metadata: (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  role: (v) => typeof v === "string",
  aal: (v) => typeof v === "string",
  amr: (v) =>
    Array.isArray(v) &&
    v.every((i) => typeof i === "string" || (typeof i === "object" && i !== null)),
  session_id: (v) => typeof v === "string",
  client_id: (v) => typeof v === "string",
};

/** custom_access_token's output: `claims` present, and GoTrue's minimum token schema kept. */
export function checkHookClaims(output: Record<string, unknown> | null): Record<string, unknown> {
  if (!output || !("claims" in output)) {
    throw new AuthError(500, "unexpected_failure", "output claims field is missing");
  }
  const claims = output.claims;
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw new AuthError(500, "unexpected_failure", "Error unmarshaling JSON output.");
  }
  const problems: string[] = [];
  for (const key of REQUIRED_CLAIMS) {
    if (!(key in claims)) problems.push(`- (root): ${key} is required`);
  }
  for (const [key, check] of Object.entries(CLAIM_TYPES)) {
    const value = (claims as Record<string, unknown>)[key];
    if (value !== undefined && !check(value)) problems.push(`- ${key}: Invalid type.`);
  }
  if (problems.length > 0) {
    throw new AuthError(
      500,
      "unexpected_failure",
      `output claims do not conform to the expected schema: \n${problems.join("\n")}\n`,
    );
  }
  return claims as Record<string, unknown>;
}
