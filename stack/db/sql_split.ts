/**
 * A migration file as the Supabase CLI records it in
 * `supabase_migrations.schema_migrations.statements`: its statements, split at every `;` that is
 * not inside a quoted string or identifier, a dollar-quoted body, a comment, parentheses or a
 * `BEGIN ATOMIC ... END` body; each kept as written (comments included), trailing `;` and
 * surrounding white space removed, empty ones dropped. `supabase migration fetch` writes the
 * files back from these, so recording them this way keeps a round trip lossless.
 */

const IDENT = /[\p{L}\p{N}_$]/u;

export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let parens = 0;
  let atomic = 0;
  let i = 0;
  const emit = (end: number) => {
    const text = sql.slice(start, end).replace(/;+$/, "").trim().replace(/;+$/, "").trim();
    if (text !== "") out.push(text);
    start = end;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "-" && next === "-") {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? sql.length : end + 1;
      continue;
    }
    if (c === "/" && next === "*") {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql.startsWith("/*", i)) (depth++, i += 2);
        else if (sql.startsWith("*/", i)) (depth--, i += 2);
        else i++;
      }
      continue;
    }
    if (c === "'" || c === '"') {
      i++;
      while (i < sql.length) {
        if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2; // '' or "" stays inside
          else break;
        } else i++;
      }
      i++;
      continue;
    }
    if (c === "$" && (i === 0 || !IDENT.test(sql[i - 1]!))) {
      const tag = /^\$(?:[\p{L}_][\p{L}\p{N}_]*)?\$/u.exec(sql.slice(i, i + 64));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? sql.length : end + tag[0].length;
        continue;
      }
    }
    if (c === "\\") {
      i += 2;
      continue;
    }
    if (c === "(") parens++;
    else if (c === ")" && parens > 0) parens--;
    else if (isWordAt(sql, i, "atomic") && /begin\s*$/i.test(sql.slice(Math.max(0, i - 64), i))) {
      atomic++;
      i += 6;
      continue;
    } else if (atomic > 0 && parens === 0 && isWordAt(sql, i, "end")) {
      atomic--;
      i += 3;
      continue;
    } else if (c === ";" && parens === 0 && atomic === 0) {
      emit(i + 1);
    }
    i++;
  }
  emit(sql.length);
  return out;
}

/** `word` (any case) starts at i and is a whole word there. */
function isWordAt(sql: string, i: number, word: string): boolean {
  if (sql.slice(i, i + word.length).toLowerCase() !== word) return false;
  const before = i === 0 ? "" : sql[i - 1]!;
  const after = sql[i + word.length] ?? "";
  return !IDENT.test(before) && !IDENT.test(after);
}
