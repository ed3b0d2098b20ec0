/** Token structure and header checks: all must fail before any key lookup. */
import assert from "node:assert/strict";
import { HttpError } from "../functions/_shared/parts.ts";
import { hasDuplicateTopLevelMember, parseJwt } from "../functions/_shared/parts.ts";
import { b64url, rawToken } from "./helpers/keys.ts";

function code(token: string): string {
  try {
    parseJwt(token);
  } catch (error) {
    assert.ok(error instanceof HttpError, `expected HttpError, got ${error}`);
    return error.code;
  }
  return "accepted";
}

const OK_HEADER = '{"alg":"ES256","kid":"k1","typ":"JWT"}';
const OK_PAYLOAD = '{"sub":"u1","iss":"https://x.supabase.co/auth/v1"}';

Deno.test("structure: a well-formed token parses into header and payload", () => {
  const { header, payload } = parseJwt(rawToken(OK_HEADER, OK_PAYLOAD));
  assert.equal(header.alg, "ES256");
  assert.equal(header.kid, "k1");
  assert.equal(payload.sub, "u1");
});

const cases: [string, string, string][] = [
  ["one part", "abc", "malformed_token"],
  ["two parts", "abc.def", "malformed_token"],
  ["four parts", "a.b.c.d", "malformed_token"],
  ["five parts (JWE)", "a.b.c.d.e", "malformed_token"],
  ["empty header part", `.${b64url(OK_PAYLOAD)}.c2lnbmF0dXJlLWJ5dGVzLXh4eA`, "malformed_token"],
  ["empty signature (unsecured)", `${b64url(OK_HEADER)}.${b64url(OK_PAYLOAD)}.`, "malformed_token"],
  ["truncated signature", `${b64url(OK_HEADER)}.${b64url(OK_PAYLOAD)}.abc`, "malformed_token"],
  [
    "padding characters",
    `${b64url(OK_HEADER)}=.${b64url(OK_PAYLOAD)}.c2lnbmF0dXJlLWJ5dGVzLXh4eA`,
    "malformed_token",
  ],
  [
    "standard base64 alphabet",
    `${b64url(OK_HEADER)}.${b64url(OK_PAYLOAD)}+/.c2lnbmF0dXJlLWJ5dGVzLXh4eA`,
    "malformed_token",
  ],
  [
    "non-ASCII characters",
    `${b64url(OK_HEADER)}.é${b64url(OK_PAYLOAD)}.c2lnbmF0dXJlLWJ5dGVzLXh4eA`,
    "malformed_token",
  ],
  ["header not JSON", rawToken("not json", OK_PAYLOAD), "malformed_token"],
  ["payload not JSON", rawToken(OK_HEADER, "{sub:1}"), "malformed_token"],
  ["header is an array", rawToken('["ES256"]', OK_PAYLOAD), "malformed_token"],
  ["payload is a string", rawToken(OK_HEADER, '"hello"'), "malformed_token"],
  ["payload is null", rawToken(OK_HEADER, "null"), "malformed_token"],
  [
    "payload not UTF-8",
    `${b64url(OK_HEADER)}.${b64url(new Uint8Array([0xff, 0xfe, 0x7b]))}.c2lnbmF0dXJlLWJ5dGVzLXh4eA`,
    "malformed_token",
  ],
  [
    "oversized token",
    `${b64url(OK_HEADER)}.${"a".repeat(20_000)}.c2lnbmF0dXJlLWJ5dGVzLXh4eA`,
    "token_too_large",
  ],
  [
    "oversized header",
    rawToken(`{"alg":"ES256","x":"${"a".repeat(3000)}"}`, OK_PAYLOAD),
    "malformed_token",
  ],
  [
    "duplicate alg in header",
    rawToken('{"alg":"HS256","alg":"ES256"}', OK_PAYLOAD),
    "malformed_token",
  ],
  ["duplicate sub in payload", rawToken(OK_HEADER, '{"sub":"a","sub":"b"}'), "malformed_token"],
  ["duplicate via escapes", rawToken(OK_HEADER, '{"sub":"a","\\u0073ub":"b"}'), "malformed_token"],
  ["alg missing", rawToken('{"kid":"k1"}', OK_PAYLOAD), "malformed_token"],
  ["alg not a string", rawToken('{"alg":256}', OK_PAYLOAD), "malformed_token"],
  ["alg none", rawToken('{"alg":"none"}', OK_PAYLOAD), "unsupported_algorithm"],
  ["alg None (case)", rawToken('{"alg":"None"}', OK_PAYLOAD), "unsupported_algorithm"],
  ["alg HS512", rawToken('{"alg":"HS512"}', OK_PAYLOAD), "unsupported_algorithm"],
  ["alg unknown", rawToken('{"alg":"XYZ999"}', OK_PAYLOAD), "unsupported_algorithm"],
  ["alg es256 (lower case)", rawToken('{"alg":"es256"}', OK_PAYLOAD), "unsupported_algorithm"],
  [
    "crit present",
    rawToken('{"alg":"ES256","kid":"k","crit":["exp"],"exp":1}', OK_PAYLOAD),
    "unsupported_token_header",
  ],
  [
    "b64=false with crit",
    rawToken('{"alg":"ES256","kid":"k","b64":false,"crit":["b64"]}', OK_PAYLOAD),
    "unsupported_token_header",
  ],
  [
    "jku header",
    rawToken('{"alg":"ES256","kid":"k","jku":"https://evil.example/jwks"}', OK_PAYLOAD),
    "unsupported_token_header",
  ],
  [
    "x5u header",
    rawToken('{"alg":"RS256","kid":"k","x5u":"https://evil.example/cert"}', OK_PAYLOAD),
    "unsupported_token_header",
  ],
  [
    "embedded jwk",
    rawToken('{"alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"a","y":"b"}}', OK_PAYLOAD),
    "unsupported_token_header",
  ],
  ["x5c chain", rawToken('{"alg":"RS256","x5c":["MIIB"]}', OK_PAYLOAD), "unsupported_token_header"],
  ["kid not a string", rawToken('{"alg":"ES256","kid":7}', OK_PAYLOAD), "malformed_token"],
  ["kid empty", rawToken('{"alg":"ES256","kid":""}', OK_PAYLOAD), "malformed_token"],
  [
    "kid with path traversal spaces",
    rawToken('{"alg":"ES256","kid":"../../ etc/passwd"}', OK_PAYLOAD),
    "malformed_token",
  ],
  [
    "kid with control char",
    rawToken('{"alg":"ES256","kid":"a\\u0000b"}', OK_PAYLOAD),
    "malformed_token",
  ],
  [
    "kid too long",
    rawToken(`{"alg":"ES256","kid":"${"k".repeat(300)}"}`, OK_PAYLOAD),
    "malformed_token",
  ],
  [
    "typ not JWT",
    rawToken('{"alg":"ES256","kid":"k","typ":"JWE"}', OK_PAYLOAD),
    "unsupported_token_header",
  ],
  [
    "typ not a string",
    rawToken('{"alg":"ES256","kid":"k","typ":1}', OK_PAYLOAD),
    "unsupported_token_header",
  ],
];
for (const [name, token, expected] of cases) {
  Deno.test(`structure: ${name} -> ${expected}`, () => {
    assert.equal(code(token), expected);
  });
}

for (const typ of ["JWT", "jwt", "at+jwt", "application/at+jwt"]) {
  Deno.test(`structure: typ ${typ} is accepted`, () => {
    assert.equal(
      code(rawToken(`{"alg":"ES256","kid":"k","typ":"${typ}"}`, OK_PAYLOAD)),
      "accepted",
    );
  });
}

Deno.test("duplicate scan: nested duplicates and string contents are not top-level members", () => {
  assert.equal(hasDuplicateTopLevelMember('{"a":{"b":1,"b":2},"c":"\\"a\\":"}'), false);
  assert.equal(hasDuplicateTopLevelMember('{"a":[{"a":1}],"b":"a"}'), false);
  assert.equal(hasDuplicateTopLevelMember('{"a":1,"b":{"x":1},"a":2}'), true);
});
