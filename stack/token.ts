/**
 * `deno task token --sub <uuid> [--email E] [--role R] [--exp SECONDS] [--alg ES256|HS256]
 * [--session-id ID]`: creates the local user/session if needed and prints a signed access
 * token on stdout, nothing else.
 */
import { parseArgs } from "node:util";
import { readRunningStatus } from "./status_file.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sub: { type: "string" },
    email: { type: "string" },
    role: { type: "string" },
    exp: { type: "string" },
    alg: { type: "string" },
    "session-id": { type: "string" },
  },
});
if (!values.sub) {
  console.error(
    "usage: deno task token --sub <uuid> [--email E] [--role R] [--exp SECONDS] [--alg ES256|HS256] [--session-id ID]",
  );
  Deno.exit(2);
}
const body: Record<string, unknown> = { sub: values.sub };
if (values.email) body.email = values.email;
if (values.role) body.role = values.role;
if (values.alg) body.alg = values.alg;
if (values["session-id"]) body.session_id = values["session-id"];
if (values.exp !== undefined) {
  const exp = Number(values.exp);
  if (!Number.isInteger(exp)) {
    console.error("--exp must be a whole number of seconds");
    Deno.exit(2);
  }
  body.exp = exp;
}
try {
  const status = await readRunningStatus();
  const response = await fetch(`${status.api_url}/auth/v1/_local/token`, {
    method: "POST",
    headers: { apikey: status.secret_key, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) {
    console.error(`token: ${answer.msg ?? response.statusText}`);
    Deno.exit(1);
  }
  console.log(answer.access_token);
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(1);
}
