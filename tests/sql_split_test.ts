/** Migration files split into statements as the Supabase CLI records them (stack/db/sql_split.ts). */
import assert from "node:assert/strict";
import { splitStatements } from "../stack/db/sql_split.ts";

Deno.test("sql split: plain statements, trailing semicolons and white space trimmed, empty ones dropped", () => {
  assert.deepEqual(splitStatements("create table a (x int);\n\n  select 1 ;;\n;"), [
    "create table a (x int)",
    "select 1",
  ]);
  assert.deepEqual(splitStatements(""), []);
  assert.deepEqual(splitStatements("select 1"), ["select 1"]);
});

Deno.test("sql split: semicolons inside strings, identifiers and comments do not split", () => {
  assert.deepEqual(
    splitStatements(
      "insert into t values ('a;b', 'it''s; fine');\n" +
        'create table "odd;name" (x int);\n' +
        "-- a comment; still a comment\nselect 2;\n" +
        "/* block; /* nested; */ still; */ select 3;",
    ),
    [
      "insert into t values ('a;b', 'it''s; fine')",
      'create table "odd;name" (x int)',
      "-- a comment; still a comment\nselect 2",
      "/* block; /* nested; */ still; */ select 3",
    ],
  );
});

Deno.test("sql split: dollar-quoted bodies stay whole, tagged or not", () => {
  const fn =
    "create function f() returns int language plpgsql as $$ begin perform 1; return 1; end $$";
  const tagged = "do $body$ begin raise notice '$$;'; end $body$";
  assert.deepEqual(splitStatements(`${fn};\n${tagged};\nselect 1;`), [fn, tagged, "select 1"]);
  // `$1` parameters and identifiers with $ are not dollar quotes.
  assert.deepEqual(splitStatements("prepare p as select $1::int; select a$b from t;"), [
    "prepare p as select $1::int",
    "select a$b from t",
  ]);
});

Deno.test("sql split: BEGIN ATOMIC bodies and parentheses keep their semicolons", () => {
  const atomic =
    "create function g() returns int language sql begin atomic select 1; select 2; end";
  assert.deepEqual(splitStatements(`${atomic};\nselect 3;`), [atomic, "select 3"]);
  assert.deepEqual(
    splitStatements("create rule r as on insert to t do also (select 1; select 2);"),
    [
      "create rule r as on insert to t do also (select 1; select 2)",
    ],
  );
});

Deno.test("sql split: an unterminated quote or body runs to the end instead of splitting", () => {
  assert.deepEqual(splitStatements("select 'open; select 2;"), ["select 'open; select 2"]);
  assert.deepEqual(splitStatements("select $$ open; more"), ["select $$ open; more"]);
});
