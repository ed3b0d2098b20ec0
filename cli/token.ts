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
    "  --sub         the user id (a UUID, as Supabase Auth's)",
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
    });
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
    try {
      const running = await readRunningStatus();
      const response = await fetch(`${running.api_url}/auth/v1/_local/token`, {
        method: "POST",
        headers: { apikey: running.secret_key, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (!response.ok) {
        console.error(`token: ${answer.msg ?? answer.message ?? response.statusText}`);
        return 1;
      }
      console.log(answer.access_token);
      return 0;
    } catch (error) {
      console.error((error as Error).message);
      return 1;
    }
  },
};
