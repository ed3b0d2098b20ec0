/** The API key ring: named keys, exact matches only, the default key first. */
import assert from "node:assert/strict";
import { ApiKeyRing } from "../functions/_shared/parts.ts";

const ring = new ApiKeyRing({
  publishable: {
    default: "sb_publishable_aaaaaaaaaaaaaaaa",
    mobile: "sb_publishable_bbbbbbbbbbbbbbbb",
  },
  secret: { default: "sb_secret_cccccccccccccccccccc", cron: "sb_secret_dddddddddddddddddddd" },
  legacyAnon: "eyJ.anon.key",
});

Deno.test("apikeys: named keys match with their kind and name", () => {
  assert.deepEqual(ring.match("sb_publishable_bbbbbbbbbbbbbbbb"), {
    kind: "publishable",
    name: "mobile",
    legacy: false,
  });
  assert.deepEqual(ring.match("sb_secret_dddddddddddddddddddd"), {
    kind: "secret",
    name: "cron",
    legacy: false,
  });
  assert.deepEqual(ring.match("eyJ.anon.key"), { kind: "publishable", name: "anon", legacy: true });
});

Deno.test("apikeys: prefixes, truncations and extensions of a key do not match", () => {
  for (
    const near of [
      "sb_secret_cccccccccccccccccccd",
      "sb_secret_ccccccccccccccccccc",
      "sb_secret_cccccccccccccccccccc ",
      "SB_SECRET_CCCCCCCCCCCCCCCCCCCC",
      "",
    ]
  ) {
    assert.equal(ring.match(near), null, near);
  }
});

Deno.test("apikeys: the default key is preferred for clients", () => {
  assert.equal(ring.first("secret", false), "sb_secret_cccccccccccccccccccc");
  assert.equal(ring.first("publishable", true), "eyJ.anon.key");
});
