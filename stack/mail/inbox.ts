/**
 * The local inbox: every mail the stack sends (and any mail an app sends to its SMTP port)
 * kept in memory, read through Mailpit's HTTP API, which `supabase start` serves on
 * `[inbucket] port` (54324), so tests and scripts written against Mailpit work unchanged:
 *
 *   GET    /api/v1/messages?start=&limit=        newest first: {total, unread, count,
 *                                                messages_count, messages_unread, start,
 *                                                tags, messages: [summary]}
 *   DELETE /api/v1/messages                      body {"IDs": [...]} or none: all
 *   PUT    /api/v1/messages                      body {"IDs": [...], "Read": true|false}
 *   GET    /api/v1/search?query=&start=&limit=   to:, from:, subject:, is:read|unread, words
 *   DELETE /api/v1/search?query=
 *   GET    /api/v1/message/{ID|latest}           the message (and marks it read)
 *   GET    /api/v1/message/{ID}/raw              its source; /headers its headers
 *   GET    /api/v1/info
 *   GET    /                                     a page listing the mails, /view/{ID} one mail
 *
 * Bounded: the newest MAX_MESSAGES, at most MAX_INBOX_BYTES, are kept. The server binds
 * 127.0.0.1 only.
 */

export const MAX_MESSAGES = 500;
/** And at most this many bytes of mail in all: the oldest go first. */
export const MAX_INBOX_BYTES = 64 * 1024 * 1024;

export interface Address {
  Name: string;
  Address: string;
}

export interface StoredMessage {
  ID: string;
  MessageID: string;
  From: Address;
  To: Address[];
  Cc: Address[];
  Bcc: Address[];
  ReplyTo: Address[];
  Subject: string;
  Created: string;
  Read: boolean;
  Text: string;
  HTML: string;
  Size: number;
  Headers: Record<string, string[]>;
  Raw: string;
}

export interface IncomingMail {
  messageId?: string;
  from: Address;
  to: Address[];
  cc?: Address[];
  bcc?: Address[];
  replyTo?: Address[];
  subject: string;
  text?: string;
  html?: string;
  headers?: Record<string, string[]>;
  raw: string;
}

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function newId(): string {
  let out = "";
  for (const byte of crypto.getRandomValues(new Uint8Array(22))) {
    out += ID_ALPHABET[byte % ID_ALPHABET.length];
  }
  return out;
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (all, name: string) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X"
        ? parseInt(name.slice(2), 16)
        : parseInt(name.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : all;
    }
    return ENTITIES[name.toLowerCase()] ?? all;
  });
}

/**
 * Plain text for an HTML-only mail, as Mailpit shows it: links as "label ( url )", block
 * elements on their own lines, tags dropped, entities decoded.
 */
export function htmlToText(html: string): string {
  return decodeEntities(
    html
      .replace(/<(script|style)[\s\S]*?<\/\1>/gi, "")
      .replace(
        /<a\s[^>]*?href\s*=\s*("([^"]*)"|'([^']*)')[^>]*>([\s\S]*?)<\/a>/gi,
        (_all, _q, dq, sq, label) => {
          const href = decodeEntities(dq ?? sq ?? "");
          const text = label.replace(/<[^>]+>/g, "").trim();
          return text && text !== href ? `${text} ( ${href} )` : href;
        },
      )
      .replace(/<br\s*\/?>/gi, "\n")
      .replace(/<\/(p|div|h[1-6]|li|tr|table)>/gi, "\n\n")
      .replace(/<[^>]+>/g, ""),
  )
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

function summary(m: StoredMessage) {
  return {
    ID: m.ID,
    MessageID: m.MessageID,
    InReplyTo: "",
    Read: m.Read,
    From: m.From,
    To: m.To,
    Cc: m.Cc,
    Bcc: m.Bcc,
    ReplyTo: m.ReplyTo,
    Subject: m.Subject,
    Created: m.Created,
    Username: "",
    Tags: [],
    Size: m.Size,
    Attachments: 0,
    Snippet: m.Text.replace(/\s+/g, " ").trim().slice(0, 250),
  };
}

function detail(m: StoredMessage) {
  return {
    ID: m.ID,
    MessageID: m.MessageID,
    From: m.From,
    To: m.To,
    Cc: m.Cc,
    Bcc: m.Bcc,
    ReplyTo: m.ReplyTo,
    ReturnPath: m.From.Address,
    Subject: m.Subject,
    ListUnsubscribe: { Header: "", Links: [], Errors: "", HeaderPost: "" },
    Date: m.Created,
    Tags: [],
    Username: "",
    Text: m.Text,
    HTML: m.HTML,
    Size: m.Size,
    Inline: [],
    Attachments: [],
  };
}

/** Mailpit's search: `to:`, `from:`, `cc:`, `subject:`, `is:read|unread`, words; `-` negates. */
export function matches(m: StoredMessage, query: string): boolean {
  const terms = [...query.matchAll(/(-?)(?:(\w+):)?(?:"([^"]*)"|(\S+))/g)];
  return terms.every(([, negate, field, quoted, bare]) => {
    const value = (quoted ?? bare ?? "").toLowerCase();
    const addresses = (list: Address[]) =>
      list.some((a) => `${a.Name} <${a.Address}>`.toLowerCase().includes(value));
    let hit: boolean;
    switch (field?.toLowerCase()) {
      case "to":
        hit = addresses(m.To);
        break;
      case "from":
        hit = addresses([m.From]);
        break;
      case "cc":
        hit = addresses(m.Cc);
        break;
      case "subject":
        hit = m.Subject.toLowerCase().includes(value);
        break;
      case "is":
        hit = value === "read" ? m.Read : value === "unread" ? !m.Read : false;
        break;
      case undefined:
        hit = [m.Subject, m.Text, m.From.Address, ...m.To.map((a) => a.Address)]
          .some((s) => s.toLowerCase().includes(value));
        break;
      default:
        hit = false;
    }
    return negate === "-" ? !hit : hit;
  });
}

export class Inbox {
  /** Oldest first. */
  readonly #messages: StoredMessage[] = [];
  #bytes = 0;

  constructor(readonly maxBytes = MAX_INBOX_BYTES) {}

  add(mail: IncomingMail): StoredMessage {
    const html = mail.html ?? "";
    const message: StoredMessage = {
      ID: newId(),
      MessageID: mail.messageId?.replace(/^<|>$/g, "") ?? `${newId()}@local`,
      From: mail.from,
      To: mail.to,
      Cc: mail.cc ?? [],
      Bcc: mail.bcc ?? [],
      ReplyTo: mail.replyTo ?? [],
      Subject: mail.subject,
      Created: new Date().toISOString(),
      Read: false,
      Text: mail.text && mail.text.trim() !== "" ? mail.text : htmlToText(html),
      HTML: html,
      Size: new TextEncoder().encode(mail.raw).length,
      Headers: mail.headers ?? {},
      Raw: mail.raw,
    };
    this.#messages.push(message);
    this.#bytes += message.Size;
    while (
      this.#messages.length > MAX_MESSAGES ||
      (this.#bytes > this.maxBytes && this.#messages.length > 1)
    ) {
      this.#bytes -= this.#messages.shift()!.Size;
    }
    return message;
  }

  /** Newest first. */
  list(query = ""): StoredMessage[] {
    const all = [...this.#messages].reverse();
    return query.trim() === "" ? all : all.filter((m) => matches(m, query));
  }

  get(id: string): StoredMessage | undefined {
    if (id === "latest") return this.#messages[this.#messages.length - 1];
    return this.#messages.find((m) => m.ID === id);
  }

  delete(ids: string[] | null): void {
    if (ids === null) {
      this.#messages.length = 0;
      this.#bytes = 0;
      return;
    }
    const drop = new Set(ids);
    for (let i = this.#messages.length - 1; i >= 0; i--) {
      if (drop.has(this.#messages[i]!.ID)) this.#bytes -= this.#messages.splice(i, 1)[0]!.Size;
    }
  }

  get size(): number {
    return this.#messages.length;
  }
}

function listAnswer(inbox: Inbox, url: URL, query: string) {
  const all = inbox.list();
  const found = query === "" ? all : inbox.list(query);
  const start = Math.max(0, Number(url.searchParams.get("start") ?? 0) || 0);
  const limit = Math.max(1, Math.min(1000, Number(url.searchParams.get("limit") ?? 50) || 50));
  const slice = found.slice(start, start + limit);
  return {
    total: all.length,
    unread: all.filter((m) => !m.Read).length,
    count: slice.length,
    messages_count: found.length,
    messages_unread: found.filter((m) => !m.Read).length,
    start,
    tags: [],
    messages: slice.map(summary),
  };
}

async function idsFrom(request: Request): Promise<{ ids: string[] | null; read?: boolean }> {
  const text = await request.text();
  if (text.trim() === "") return { ids: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Response("invalid JSON body", { status: 400 });
  }
  const body = (parsed ?? {}) as { IDs?: unknown; Read?: unknown };
  const ids = Array.isArray(body.IDs) && body.IDs.length > 0
    ? body.IDs.filter((x): x is string => typeof x === "string")
    : null;
  return { ids, ...(typeof body.Read === "boolean" ? { read: body.Read } : {}) };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function htmlPage(title: string, body: string): Response {
  return new Response(
    `<!doctype html><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:60rem}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}.unread{font-weight:600}iframe{width:100%;height:28rem;border:1px solid #ccc}</style>
${body}`,
    {
      headers: {
        "content-type": "text/html; charset=utf-8",
        // The mail's HTML is shown in a sandboxed frame: no scripts, no forms, no top navigation.
        "content-security-policy":
          "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'",
      },
    },
  );
}

/** The http(s) links of a mail, as plain links on the inbox's own page (one click signs in). */
function linksOf(html: string): string {
  const links = [...html.matchAll(/<a\s[^>]*?href\s*=\s*"([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi)]
    .map(([, href, label]) => ({
      href: decodeEntities(href!),
      label: decodeEntities(label!.replace(/<[^>]+>/g, "")).trim(),
    }))
    .filter((l) => /^https?:\/\//i.test(l.href));
  if (links.length === 0) return "";
  return `<p>Links: ${
    links.map((l) => `<a class="mail-link" href="${esc(l.href)}">${esc(l.label || l.href)}</a>`)
      .join(" ")
  }</p>`;
}

/** Mailpit's API and a small page, for Deno.serve. */
export function inboxHandler(inbox: Inbox): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const method = request.method;
    try {
      if (path === "/api/v1/messages" && method === "GET") {
        return Response.json(listAnswer(inbox, url, ""));
      }
      if (path === "/api/v1/messages" && method === "DELETE") {
        inbox.delete((await idsFrom(request)).ids);
        return new Response("ok", { headers: { "content-type": "text/plain" } });
      }
      if (path === "/api/v1/messages" && method === "PUT") {
        const { ids, read } = await idsFrom(request);
        for (const m of ids === null ? inbox.list() : ids.map((id) => inbox.get(id))) {
          if (m) m.Read = read ?? true;
        }
        return new Response("ok", { headers: { "content-type": "text/plain" } });
      }
      if (path === "/api/v1/search" && (method === "GET" || method === "DELETE")) {
        const query = url.searchParams.get("query") ?? "";
        if (query.trim() === "") return new Response("no search query", { status: 400 });
        if (method === "DELETE") {
          inbox.delete(inbox.list(query).map((m) => m.ID));
          return new Response("ok", { headers: { "content-type": "text/plain" } });
        }
        return Response.json(listAnswer(inbox, url, query));
      }
      if (path === "/api/v1/info" && method === "GET") {
        const all = inbox.list();
        return Response.json({
          Version: "local (Mailpit API)",
          LatestVersion: "",
          Database: "memory",
          DatabaseSize: 0,
          Messages: all.length,
          Unread: all.filter((m) => !m.Read).length,
          Tags: {},
        });
      }
      const one = /^\/api\/v1\/message\/([A-Za-z0-9]+)(\/raw|\/headers)?$/.exec(path);
      if (one && method === "GET") {
        const m = inbox.get(one[1]!);
        if (!m) return new Response("message not found", { status: 404 });
        if (one[2] === "/raw") {
          return new Response(m.Raw, { headers: { "content-type": "text/plain; charset=utf-8" } });
        }
        if (one[2] === "/headers") return Response.json(m.Headers);
        m.Read = true;
        return Response.json(detail(m));
      }
      if (path === "/" && method === "GET") {
        const rows = inbox.list().map((m) =>
          `<tr class="${m.Read ? "" : "unread"}"><td>${
            esc(m.To.map((a) => a.Address).join(", "))
          }</td>
<td><a href="/view/${m.ID}">${esc(m.Subject || "(no subject)")}</a></td><td>${
            esc(m.Created)
          }</td></tr>`
        ).join("");
        return htmlPage(
          "Inbox",
          `<h1>Inbox</h1><p>${inbox.size} mail(s). API: <code>/api/v1/messages</code> (Mailpit's).</p>
<table><tr><th>To</th><th>Subject</th><th>Received</th></tr>${rows}</table>`,
        );
      }
      const view = /^\/view\/([A-Za-z0-9]+)(\/html)?$/.exec(path);
      if (view && method === "GET") {
        const m = inbox.get(view[1]!);
        if (!m) return new Response("message not found", { status: 404 });
        if (view[2]) {
          // The mail's own HTML, only ever inside the sandboxed frame below.
          return new Response(m.HTML, {
            headers: {
              "content-type": "text/html; charset=utf-8",
              "content-security-policy": "sandbox allow-popups allow-popups-to-escape-sandbox",
            },
          });
        }
        m.Read = true;
        return htmlPage(
          m.Subject,
          `<p><a href="/">&larr; Inbox</a></p><h2>${esc(m.Subject)}</h2>
<p>From ${esc(m.From.Address)} to ${esc(m.To.map((a) => a.Address).join(", "))}, ${
            esc(m.Created)
          }</p>
${linksOf(m.HTML)}${
            m.HTML
              ? `<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" src="/view/${m.ID}/html"></iframe>`
              : ""
          }<pre>${esc(m.Text)}</pre>`,
        );
      }
      return new Response("not found", { status: 404 });
    } catch (error) {
      if (error instanceof Response) return error;
      throw error;
    }
  };
}
