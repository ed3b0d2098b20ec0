/**
 * `deno task token`: a signed access token for a local user, on stdout and nothing else.
 * The user and its session are created as a sign-in would create them.
 */
import { fail, parseOrExit, type Verb } from "./args.ts";
import { readRunningStatus } from "../stack/status_file.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The roles Supabase Auth may put in its own tokens (the gateway refuses any other). */
const ROLES = ["authenticated", "anon", "service_role"];
const WEEK = 7 * 24 * 3600;

export const token: Verb = {
  name: "token",
  supabase: "no Supabase CLI equivalent: a local helper",
  summary: "print an access token for a local user (created if new)",
  usage: [
    "usage: deno task token --sub <uuid> [--email E] [--role R] [--exp SECONDS] [--alg ES256|HS256] [--session-id UUID]",
    "       deno task token --provider <clerk|auth0|firebase|cognito|workos|logto|...> --sub <id> [--claims JSON] [--exp SECONDS]",
    "  --sub         the user id (Supabase Auth: a UUID; a provider: its own form, e.g. user_2abc)",
    "  --provider    a token from that provider's local stand-in ([auth.third_party.*] or AUTH_ISSUERS),",
    "                shaped as the provider shapes them and trusted by this stack only",
    "  --claims      extra claims for a provider token, a JSON object (they win over the defaults)",
    "  --email       default: user-<first 8 of sub>@example.com",
    `  --role        one of ${ROLES.join(", ")} (default authenticated)`,
    `  --exp         lifetime in seconds, 1-${WEEK} (default 3600)`,
    "  --alg         ES256 (the stack's key, default) or HS256 (the legacy secret)",
    "  --session-id  reuse a session (default: a new one)",
  ].join("\n"),
  async run(argv) {
    const { values } = parseOrExit(this, argv, {
      sub: { type: "string" },
      email: { type: "string" },
      role: { type: "string" },
      exp: { type: "string" },
      alg: { type: "string" },
      "session-id": { type: "string" },
      provider: { type: "string" },
      claims: { type: "string" },
    });
    if (values.provider !== undefined) return await providerToken(this, values);
    if (values.claims !== undefined) fail(this, "--claims goes with --provider");
    if (!values.sub) fail(this, "--sub <uuid> is required");
    if (!UUID.test(values.sub)) {
      fail(this, `--sub must be a UUID, got "${values.sub.slice(0, 40)}"`);
    }
    const body: Record<string, unknown> = {
      sub: values.sub,
      email: values.email ?? `user-${values.sub.slice(0, 8).toLowerCase()}@example.com`,
    };
    if (values.role !== undefined) {
      if (!ROLES.includes(values.role)) fail(this, `--role must be one of ${ROLES.join(", ")}`);
      body.role = values.role;
    }
    if (values.exp !== undefined) {
      const exp = Number(values.exp);
      if (!/^\d+$/.test(values.exp) || exp < 1 || exp > WEEK) {
        fail(this, `--exp must be a whole number of seconds from 1 to ${WEEK}`);
      }
      body.exp = exp;
    }
    if (values.alg !== undefined) {
      if (values.alg !== "ES256" && values.alg !== "HS256") {
        fail(this, "--alg must be ES256 or HS256");
      }
      body.alg = values.alg;
    }
    if (values["session-id"] !== undefined) {
      if (!UUID.test(values["session-id"])) fail(this, "--session-id must be a UUID");
      body.session_id = values["session-id"];
    }
    return await mintAndPrint("/auth/v1/_local/token", body);
  },
};

/** `--provider`: a token from that issuer's local stand-in (stack/issuers/stand_ins.ts). */
async function providerToken(
  verb: Verb,
  values: { provider?: string; sub?: string; claims?: string; exp?: string; [k: string]: unknown },
): Promise<number> {
  const provider = values.provider!;
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(provider)) {
    fail(verb, `--provider "${provider.slice(0, 40)}" is not a provider name`);
  }
  if (!values.sub) fail(verb, "--sub <id> is required");
  for (const flag of ["email", "role", "alg", "session-id"]) {
    if (values[flag] !== undefined) {
      fail(verb, `--${flag} is for Supabase Auth tokens, not --provider`);
    }
  }
  const body: Record<string, unknown> = { sub: values.sub };
  if (values.claims !== undefined) {
    let claims: unknown;
    try {
      claims = JSON.parse(values.claims);
    } catch {
      fail(verb, "--claims must be a JSON object");
    }
    if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
      fail(verb, "--claims must be a JSON object");
    }
    body.claims = claims;
  }
  if (values.exp !== undefined) {
    const exp = Number(values.exp);
    if (!/^\d+$/.test(values.exp) || exp < 1 || exp > WEEK) {
      fail(verb, `--exp must be a whole number of seconds from 1 to ${WEEK}`);
    }
    body.exp = exp;
  }
  return await mintAndPrint(`/_local/idp/${provider}/mint`, body, async (api) => {
    const known = await (await fetch(`${api}/_local/idp/`)).json();
    console.error(
      `token: no stand-in for "${provider}" (this stack has: ${
        known.stand_ins.join(", ") || "none"
      }). ` +
        "Enable it in supabase/config.toml [auth.third_party.<provider>], or add an AUTH_ISSUERS entry in supabase/functions/.env, then restart.",
    );
  });
}

/**
 * POST `body` with the secret key to the running stack's `path` and print the access token
 * alone (what scripts read), or one line of why not (`notFound` explains a 404).
 */
async function mintAndPrint(
  path: string,
  body: Record<string, unknown>,
  notFound?: (api: string) => Promise<void>,
): Promise<number> {
  try {
    const running = await readRunningStatus();
    const response = await fetch(`${running.api_url}${path}`, {
      method: "POST",
      headers: { apikey: running.secret_key, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (response.status === 404 && notFound) {
      await notFound(running.api_url);
      return 1;
    }
    if (!response.ok) {
      const why = answer.msg ?? answer.error_description ?? answer.message ?? response.statusText;
      console.error(`token: ${why}`);
      return 1;
    }
    console.log(answer.access_token);
    return 0;
  } catch (error) {
    console.error((error as Error).message);
    return 1;
  }
}
