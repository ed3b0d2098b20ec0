/** Request helpers: sub-paths, body validation, JSON reading limits. */
import assert from "node:assert/strict";
import { HttpError, readJsonObject, subPath, validateBody } from "../functions/_shared/parts.ts";

Deno.test("http: subPath works with and without the /functions/v1 prefix", () => {
  assert.deepEqual(subPath(new Request("http://h/functions/v1/posts/42")), ["42"]);
  assert.deepEqual(subPath(new Request("http://h/posts/42/comments")), ["42", "comments"]);
  assert.deepEqual(subPath(new Request("http://h/posts")), []);
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HttpError);
    return e.code;
  }
  return "accepted";
}

const schema = {
  title: { type: "string", required: true, maxLength: 10, minLength: 1 },
  done: { type: "boolean" },
} as const;

Deno.test("http: validateBody rejects unknown, missing and mistyped fields", () => {
  assert.equal(codeOf(() => validateBody({ title: "a", user_id: "x" }, schema)), "invalid_body");
  assert.equal(codeOf(() => validateBody({}, schema)), "invalid_body");
  assert.equal(codeOf(() => validateBody({ title: 5 }, schema)), "invalid_body");
  assert.equal(codeOf(() => validateBody({ title: "   " }, schema)), "invalid_body");
  assert.equal(codeOf(() => validateBody({ title: "x".repeat(11) }, schema)), "invalid_body");
  assert.deepEqual(validateBody({ title: "ok", done: true }, schema), { title: "ok", done: true });
});

async function bodyCode(init: RequestInit): Promise<string> {
  try {
    await readJsonObject(new Request("http://h/x", { method: "POST", ...init }), 1024);
  } catch (e) {
    assert.ok(e instanceof HttpError);
    return e.code;
  }
  return "accepted";
}

Deno.test("http: readJsonObject maps media type, size and syntax to 415/413/400", async () => {
  assert.equal(
    await bodyCode({ body: "{}", headers: { "content-type": "text/plain" } }),
    "unsupported_media_type",
  );
  assert.equal(
    await bodyCode({ body: "x".repeat(2000), headers: { "content-type": "application/json" } }),
    "payload_too_large",
  );
  assert.equal(
    await bodyCode({ body: "{", headers: { "content-type": "application/json" } }),
    "invalid_json",
  );
  assert.equal(
    await bodyCode({ body: "[1]", headers: { "content-type": "application/json" } }),
    "invalid_body",
  );
  assert.equal(
    await bodyCode({
      body: '{"a":1}',
      headers: { "content-type": "application/json; charset=utf-8" },
    }),
    "accepted",
  );
});
