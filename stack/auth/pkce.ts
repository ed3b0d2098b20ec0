/**
 * PKCE for email sign-in, as Supabase Auth does it (supabase/auth internal/api/pkce.go,
 * models/flow_state.go): a request that carries `code_challenge` + `code_challenge_method`
 * records a flow state (`auth.flow_state`) for the user; the mail's link then answers
 * `?code=<auth code>` instead of a session, and `POST /token?grant_type=pkce` trades that code
 * and the verifier for the session. A flow state lasts 300 s (a magic link's from when its code
 * was issued), is used once, and is bound to the method that started it.
 */
import type { Sql } from "../db/database.ts";
import { badRequest, notFound, unprocessable } from "./errors.ts";

export const FLOW_STATE_EXPIRY_SECONDS = 300;
const CHALLENGE = /^[a-zA-Z._~0-9-]+$/;
const PKCE_PARAMS_MSG = "PKCE flow requires code_challenge_method and code_challenge";

export interface PkceParams {
  challenge: string;
  method: "s256" | "plain";
}

/** Both or neither; a valid challenge (RFC 7636 4.2). null: the implicit flow. */
export function pkceParams(params: Record<string, unknown>): PkceParams | null {
  const challenge = typeof params.code_challenge === "string" ? params.code_challenge : "";
  const method = typeof params.code_challenge_method === "string"
    ? params.code_challenge_method
    : "";
  if ((challenge === "") !== (method === "")) {
    throw badRequest("validation_failed", PKCE_PARAMS_MSG);
  }
  if (challenge === "") return null;
  if (challenge.length < 43 || challenge.length > 128) {
    throw badRequest("validation_failed", "code challenge has to be between 43 and 128 characters");
  }
  if (!CHALLENGE.test(challenge)) {
    throw badRequest(
      "validation_failed",
      "code challenge can only contain alphanumeric characters, hyphens, periods, underscores and tildes",
    );
  }
  const lower = method.toLowerCase();
  if (lower !== "s256" && lower !== "plain") {
    throw badRequest(
      "validation_failed",
      `unsupported code_challenge method "${method.slice(0, 20).replace(/[^\x20-\x7e]/g, "")}"`,
    );
  }
  return { challenge, method: lower };
}

/** GoTrue's authentication method names for a verification type ("signup" -> "email/signup"). */
export function methodOfType(type: string): string | null {
  if (type.endsWith("signup")) return "email/signup";
  return ["recovery", "invite", "magiclink", "email_change", "otp"].includes(type) ? type : null;
}

export async function createFlowState(
  sql: Sql,
  userId: string,
  method: string,
  pkce: PkceParams,
): Promise<void> {
  // Old flow states go first: each lives five minutes.
  await sql`delete from auth.flow_state where created_at < now() - interval '1 hour'`;
  await sql`
    insert into auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge,
      provider_type, authentication_method)
    values (${crypto.randomUUID()}, ${userId}, ${crypto.randomUUID()}, ${pkce.method},
      ${pkce.challenge}, ${method === "email/signup" ? "email" : method}, ${method})`;
}

/** The auth code for the user's latest flow of `method` (GoTrue's issueAuthCode). */
export async function issueAuthCode(sql: Sql, userId: string, method: string): Promise<string> {
  const [flow] = await sql`
    update auth.flow_state set auth_code_issued_at = now(), updated_at = now()
    where id = (select id from auth.flow_state where user_id = ${userId}
                and authentication_method = ${method} order by created_at desc limit 1)
    returning auth_code`;
  if (!flow) {
    throw unprocessable("flow_state_not_found", "No valid flow state found for user.");
  }
  return flow.auth_code as string;
}

async function s256(verifier: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)),
  );
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function sameText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * POST /token?grant_type=pkce: the user and how they authenticated, once; the flow state is
 * gone afterwards whether or not the session is then issued.
 */
export async function exchangeAuthCode(
  sql: Sql,
  params: Record<string, unknown>,
): Promise<{ userId: string; method: string }> {
  const code = typeof params.auth_code === "string" ? params.auth_code : "";
  const verifier = typeof params.code_verifier === "string" ? params.code_verifier : "";
  if (code === "" || verifier === "") {
    throw badRequest(
      "validation_failed",
      "invalid request: both auth code and code verifier should be non-empty",
    );
  }
  const [flow] = await sql`
    select id, user_id, code_challenge, code_challenge_method, authentication_method,
           created_at, auth_code_issued_at
    from auth.flow_state where auth_code = ${code}`;
  if (!flow || !flow.user_id) {
    throw notFound("flow_state_not_found", "invalid flow state, no valid flow state found");
  }
  const from = flow.auth_code_issued_at && flow.authentication_method === "magiclink"
    ? flow.auth_code_issued_at
    : flow.created_at;
  if (Date.now() > new Date(from).getTime() + FLOW_STATE_EXPIRY_SECONDS * 1000) {
    throw unprocessable("flow_state_expired", "invalid flow state, flow state has expired");
  }
  const expected = flow.code_challenge_method === "s256" ? await s256(verifier) : verifier;
  if (!sameText(expected, flow.code_challenge)) {
    throw badRequest(
      "bad_code_verifier",
      "code challenge does not match previously saved code verifier",
    );
  }
  // Used once: the delete decides between two concurrent exchanges.
  const deleted = await sql`delete from auth.flow_state where id = ${flow.id} returning id`;
  if (deleted.length === 0) {
    throw notFound("flow_state_not_found", "invalid flow state, no valid flow state found");
  }
  return { userId: flow.user_id as string, method: flow.authentication_method as string };
}
