/** AUTH_ISSUERS: provider recognition and configuration errors that name the field. */
import assert from "node:assert/strict";
import { ConfigError, guessProvider, parseIssuers } from "../functions/_shared/parts.ts";

Deno.test("issuers: providers are recognised from the issuer URL", () => {
  assert.equal(guessProvider("https://x.clerk.accounts.dev"), "clerk");
  assert.equal(guessProvider("https://t.us.auth0.com/"), "auth0");
  assert.equal(guessProvider("https://securetoken.google.com/my-proj"), "firebase");
  assert.equal(guessProvider("https://abc.logto.app/oidc"), "logto");
  assert.equal(guessProvider("https://login.example.com"), "oidc");
});

const badIssuers: [string, string][] = [
  ['[{"issuer":"https://a.example","mode":"native"}]', "AUTH_ISSUERS[0].audience"],
  ['[{"issuer":"https://a.example","mode":"sideways","audience":"x"}]', "AUTH_ISSUERS[0].mode"],
  ['[{"issuer":"not a url","mode":"native","audience":"x"}]', "AUTH_ISSUERS[0].issuer"],
  [
    '[{"issuer":"https://a.example","mode":"native","audience":"x","algorithms":["HS256"]}]',
    "AUTH_ISSUERS[0].algorithms",
  ],
  [
    '[{"issuer":"https://a.example","mode":"native","audience":"x","colour":"red"}]',
    "AUTH_ISSUERS[0].colour",
  ],
  [
    '[{"issuer":"https://a.example","mode":"native","audience":"x"},{"issuer":"https://a.example","mode":"native","audience":"y"}]',
    "AUTH_ISSUERS[1].issuer",
  ],
  ['{"issuer":"https://a.example"}', "AUTH_ISSUERS"],
];
for (const [raw, variable] of badIssuers) {
  Deno.test(`issuers: config error names ${variable}`, () => {
    assert.throws(
      () => parseIssuers(raw),
      (e: unknown) => e instanceof ConfigError && e.variable === variable,
    );
  });
}
