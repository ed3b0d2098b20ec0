import assert from "node:assert/strict";
import { extractApiKey, extractBearer } from "../functions/_shared/parts.ts";
import { HttpError } from "../functions/_shared/parts.ts";

function req(headers: [string, string][], url = "http://127.0.0.1/functions/v1/me"): Request {
  const h = new Headers();
  for (const [k, v] of headers) h.append(k, v);
  return new Request(url, { headers: h });
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof HttpError, `expected HttpError, got ${error}`);
    return error.code;
  }
  return "accepted";
}

const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

Deno.test("bearer: absent header is null, not an error", () => {
  assert.equal(extractBearer(req([])), null);
});

for (
  const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]
) {
  Deno.test(`bearer: scheme is case-insensitive (${scheme})`, () => {
    assert.equal(extractBearer(req([["authorization", `${scheme} ${TOKEN}`]])), TOKEN);
  });
}

const rejected: [string, [string, string][], string][] = [
  ["empty header", [["authorization", ""]], "invalid_authorization_header"],
  ["only spaces", [["authorization", "   "]], "invalid_authorization_header"],
  ["scheme without token", [["authorization", "Bearer"]], "invalid_authorization_header"],
  ["scheme and space only", [["authorization", "Bearer "]], "invalid_authorization_header"],
  ["Basic scheme", [["authorization", "Basic dXNlcjpwYXNz"]], "invalid_authorization_header"],
  ["Token scheme", [["authorization", `Token ${TOKEN}`]], "invalid_authorization_header"],
  ["token without scheme", [["authorization", TOKEN]], "invalid_authorization_header"],
  ["two tokens", [["authorization", `Bearer ${TOKEN} ${TOKEN}`]], "invalid_authorization_header"],
  ["double space", [["authorization", `Bearer  ${TOKEN}`]], "invalid_authorization_header"],
  [
    "two headers",
    [["authorization", `Bearer ${TOKEN}`], ["authorization", `Bearer ${TOKEN}`]],
    "invalid_authorization_header",
  ],
  ["quoted token", [["authorization", `Bearer "${TOKEN}"`]], "invalid_authorization_header"],
  ["token with tab", [["authorization", `Bearer ab\tcd`]], "invalid_authorization_header"],
  ["oversized header", [["authorization", `Bearer ${"a".repeat(17 * 1024)}`]], "token_too_large"],
];
for (const [name, headers, expected] of rejected) {
  Deno.test(`bearer: rejects ${name} with ${expected}`, () => {
    assert.equal(code(() => extractBearer(req(headers))), expected);
  });
}

for (const param of ["access_token", "token", "apikey"]) {
  Deno.test(`bearer: refuses credentials in the query (${param})`, () => {
    const r = req(
      [["authorization", `Bearer ${TOKEN}`]],
      `http://127.0.0.1/functions/v1/me?${param}=x`,
    );
    assert.equal(code(() => extractBearer(r)), "invalid_authorization_header");
  });
}

Deno.test("apikey: absent is null; present is returned trimmed", () => {
  assert.equal(extractApiKey(req([])), null);
  assert.equal(extractApiKey(req([["apikey", " sb_publishable_abc "]])), "sb_publishable_abc");
});

Deno.test("apikey: two apikey headers are refused", () => {
  const r = req([["apikey", "sb_publishable_a"], ["apikey", "sb_publishable_b"]]);
  assert.equal(code(() => extractApiKey(r)), "invalid_api_key");
});

Deno.test("apikey: empty and oversized values are refused", () => {
  assert.equal(code(() => extractApiKey(req([["apikey", ""]]))), "invalid_api_key");
  assert.equal(
    code(() => extractApiKey(req([["apikey", "x".repeat(17 * 1024)]]))),
    "invalid_api_key",
  );
});
