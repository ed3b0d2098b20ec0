/**
 * The inbox as the stack runs it: `[inbucket]` of config.toml (the Supabase CLI's key for its
 * Mailpit), the Mailpit-style web/API server on `port` (54324) and the SMTP door on
 * `smtp_port` (a free port when unset: the local Auth still sends through it).
 */
import { parse } from "smol-toml";
import { Inbox, inboxHandler } from "./inbox.ts";
import { startSmtpReceiver } from "./smtp_receiver.ts";

export interface InboxSettings {
  enabled: boolean;
  port: number;
  smtpPort: number | null;
}

export function readInboxSettings(tomlText: string | null): InboxSettings {
  const root = tomlText === null ? {} : parse(tomlText) as Record<string, unknown>;
  // `[inbucket]` is the CLI's key (its Mailpit); `[local_smtp]` is read as the same.
  const table = (root.local_smtp ?? root.inbucket ?? {}) as Record<string, unknown>;
  const port = (key: string, fallback: number | null) => {
    const value = table[key];
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 65535) {
      throw new Error(`supabase/config.toml: inbucket.${key} must be a port number`);
    }
    return value;
  };
  const enabled = table.enabled ?? true;
  if (typeof enabled !== "boolean") {
    throw new Error("supabase/config.toml: inbucket.enabled must be a boolean");
  }
  return { enabled, port: port("port", 54324)!, smtpPort: port("smtp_port", null) };
}

export interface LocalInbox {
  inbox: Inbox;
  url: string;
  smtpPort: number;
  stop(): Promise<void>;
}

export async function startInbox(options: { port: number; smtpPort: number }): Promise<LocalInbox> {
  const inbox = new Inbox();
  const smtp = await startSmtpReceiver(inbox, options.smtpPort);
  let server: Deno.HttpServer;
  try {
    server = Deno.serve(
      { hostname: "127.0.0.1", port: options.port, onListen: () => {} },
      inboxHandler(inbox),
    );
  } catch (error) {
    await smtp.close();
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `the inbox's port ${options.port} is in use ([inbucket] port in supabase/config.toml)`,
      );
    }
    throw error;
  }
  return {
    inbox,
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    smtpPort: smtp.port,
    async stop() {
      await server.shutdown();
      await smtp.close();
    },
  };
}
