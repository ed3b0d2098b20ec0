/**
 * Serves one PGlite instance to several Postgres clients on a loopback port.
 *
 * PGlite is a single session, so clients must take turns. pglite-socket 0.2.17 takes turns
 * per protocol message, which lets one client's Parse/Bind land between another client's
 * Bind and Execute: the unnamed portal is replaced and the first client gets
 * `portal "" does not exist`. PostgREST (libpq) and postgres.js both use the extended
 * protocol, so the local stack hit this as soon as two clients were busy at once.
 *
 * This server takes turns per *group* of messages, ending at Sync or a simple Query, and a
 * client that leaves a transaction open keeps the session until it ends it (or
 * disconnects, which rolls it back). The wire protocol itself is PGlite's
 * (`execProtocolRawStream`): nothing here interprets SQL.
 *
 * PGlite's one session belongs to its superuser. A client that logs in as another role
 * (PostgREST as `authenticator`) gets its turns under `SET SESSION AUTHORIZATION` to that
 * role, so a token's `role` claim can only `set role` to roles the login role was granted,
 * as on a real server. (Unlike a real server, arbitrary SQL run in such a session could
 * `set session authorization` back to the superuser, since PGlite's session began as one:
 * PostgREST never sends such SQL, and this is a local development database.)
 */
import type { PGlite } from "@electric-sql/pglite";
import { concatBytes } from "../../functions/_shared/parts.ts";

const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;
const GSSENC_REQUEST = 80877104;
const PROTOCOL_3 = 196608;

/** Message types after which a client waits for answers. */
const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const FLUSH = 0x48; // 'H'
const TERMINATE = 0x58; // 'X'

export interface PgliteServer {
  port: number;
  /** Counters since start, for `deno task bench`'s profile of a request (see PgliteProfile). */
  profile(): PgliteProfile;
  close(): Promise<void>;
}

/**
 * Where the PGlite thread spends a client's turns. `execMs` is the time inside PGlite's
 * `execProtocolRawStream` (Postgres as WASM: parse, plan, execute, encode the answers); the
 * rest of the thread's CPU is ours (socket reads and writes, message framing, turn-taking).
 */
export interface PgliteProfile {
  /** Groups of messages run (one per Sync or simple Query). */
  groups: number;
  /** Wall time inside `execProtocolRawStream`. */
  execMs: number;
}

export function servePglite(
  db: PGlite,
  options: { port: number; hostname?: string },
): PgliteServer {
  return new PgliteSocketServer(db, options);
}

/** PGlite's one session, shared by socket clients that take turns (see the top of this file). */
class PgliteSocketServer implements PgliteServer {
  readonly #db: PGlite;
  readonly #listener: Deno.Listener;
  readonly #connections = new Set<Deno.Conn>();
  #nextId = 1;
  /** The connection that holds the session (mid-sequence or in a transaction), if any. */
  #owner: number | null = null;
  #waiters: (() => void)[] = [];
  #chain: Promise<unknown> = Promise.resolve();
  /** The role the session currently runs as (PGlite's own user until a client asks for another). */
  #sessionRole = SUPERUSER;
  readonly #profile: PgliteProfile = { groups: 0, execMs: 0 };

  constructor(db: PGlite, options: { port: number; hostname?: string }) {
    this.#db = db;
    this.#listener = Deno.listen({ hostname: options.hostname ?? "127.0.0.1", port: options.port });
    this.#accept().catch(() => {});
  }

  async #accept(): Promise<void> {
    for await (const conn of this.#listener) {
      this.#connections.add(conn);
      this.#handle(conn, this.#nextId++);
    }
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  profile(): PgliteProfile {
    return { ...this.#profile };
  }

  async close(): Promise<void> {
    this.#listener.close();
    for (const conn of this.#connections) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await this.#chain;
  }

  async #acquire(id: number): Promise<void> {
    while (this.#owner !== null && this.#owner !== id) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#owner = id;
  }

  #release(id: number, keep: boolean): void {
    if (this.#owner !== id) return;
    if (!keep) {
      this.#owner = null;
      const wake = this.#waiters;
      this.#waiters = [];
      wake.forEach((w) => w());
    }
  }

  /**
   * Switch the session to the client's login role (outside any transaction: we hold the turn).
   * Sent as a protocol message: PGlite's `exec` would wait for the lock we already hold.
   */
  async #becomeRole(role: string): Promise<void> {
    if (role === this.#sessionRole) return;
    // Always `set`, never `reset`: PGlite's RESET SESSION AUTHORIZATION does not go back
    // once a transaction has set `role` (seen with 0.5.14); SET to its superuser does.
    const sql = `set session authorization "${role.replace(/"/g, '""')}"`;
    const answers: Uint8Array[] = [];
    await this.#db.execProtocolRawStream(simpleQuery(sql), { onRawData: (c) => answers.push(c) });
    if (hasError(concatBytes(answers))) throw new Error(`cannot become role ${role}`);
    this.#sessionRole = role;
  }

  /**
   * Run one group of messages for a client, then write its answers. PGlite hands them over
   * as views into its WASM memory, which the next group overwrites, so they are copied; and
   * since it makes them in one synchronous call, they leave in one write, after the turn
   * (a client slow to read holds up only itself). The caller awaits this before reading the
   * client's next group, so a pipelining client's answers stay in order.
   */
  async #run(
    id: number,
    role: string,
    conn: Deno.Conn,
    bytes: Uint8Array,
    last: number,
  ): Promise<void> {
    const profile = this.#profile;
    await this.#acquire(id);
    // Serialize against PGlite itself as well (it is single-threaded).
    const turn = this.#chain.then(() =>
      this.#db.runExclusive(async () => {
        await this.#becomeRole(role);
        const start = performance.now();
        const answers: Uint8Array[] = [];
        await this.#db.execProtocolRawStream(bytes, {
          onRawData: (chunk: Uint8Array) => answers.push(chunk.slice()),
        });
        profile.execMs += performance.now() - start;
        profile.groups++;
        return answers.length === 1 ? answers[0]! : concatBytes(answers);
      })
    );
    this.#chain = turn.catch(() => {});
    let answer: Uint8Array;
    try {
      answer = await turn;
    } finally {
      const midSequence = last === FLUSH;
      this.#release(id, midSequence || this.#db.isInTransaction());
    }
    await writeAll(conn, answer);
  }

  async #handle(conn: Deno.Conn, id: number): Promise<void> {
    let buffer: Uint8Array = new Uint8Array(0);
    let started = false;
    let pending: Uint8Array[] = [];
    let role = SUPERUSER;
    const reader = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await conn.read(reader);
        if (n === null) break;
        buffer = concatBytes([buffer, reader.subarray(0, n)]);
        for (;;) {
          if (!started) {
            if (buffer.length < 8) break;
            const length = readInt32(buffer, 0);
            const code = readInt32(buffer, 4);
            if (buffer.length < length) break;
            const message = buffer.slice(0, length);
            buffer = buffer.slice(length);
            if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
              await writeAll(conn, new Uint8Array([0x4e])); // 'N': no encryption, carry on
              continue;
            }
            if (code === CANCEL_REQUEST) return; // not supported by PGlite: just close
            if (code !== PROTOCOL_3) return;
            started = true;
            role = startupUser(message) ?? SUPERUSER;
            try {
              await this.#run(id, role, conn, message, SYNC);
            } catch {
              // No such role (or not allowed to log in): refuse as a server would.
              await writeAll(conn, fatal("28000", `role "${role}" cannot log in here`));
              return;
            }
            continue;
          }
          if (buffer.length < 5) break;
          const length = 1 + readInt32(buffer, 1);
          if (buffer.length < length) break;
          const type = buffer[0]!;
          const message = buffer.slice(0, length);
          buffer = buffer.slice(length);
          if (type === TERMINATE) return;
          pending.push(message);
          if (type === SYNC || type === QUERY || type === FLUSH) {
            const group = concatBytes(pending);
            pending = [];
            await this.#run(id, role, conn, group, type);
          }
        }
      }
    } catch {
      // client went away mid-read or mid-write
    } finally {
      this.#connections.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
      if (this.#owner === id) {
        // A client that vanished inside a transaction must not keep the session.
        if (this.#db.isInTransaction()) await this.#db.exec("ROLLBACK").catch(() => {});
        this.#release(id, false);
      }
    }
  }
}

/** PGlite's own user, the one its single session starts as. */
const SUPERUSER = "postgres";

/** The `user` parameter of a StartupMessage (length, version, then name/value pairs). */
function startupUser(message: Uint8Array): string | null {
  const fields = new TextDecoder().decode(message.subarray(8)).split("\0");
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "user") return fields[i + 1] || null;
  }
  return null;
}

/** A simple-protocol Query message. */
function simpleQuery(sql: string): Uint8Array {
  const text = new TextEncoder().encode(`${sql}\0`);
  const out = new Uint8Array(5 + text.length);
  out[0] = QUERY;
  new DataView(out.buffer).setInt32(1, 4 + text.length);
  out.set(text, 5);
  return out;
}

/** Whether a run of backend messages holds an ErrorResponse. */
function hasError(bytes: Uint8Array): boolean {
  for (let at = 0; at + 5 <= bytes.length; at += 1 + readInt32(bytes, at + 1)) {
    if (bytes[at] === 0x45) return true; // 'E'
  }
  return false;
}

/** An ErrorResponse with severity FATAL, for a login the server refuses. */
function fatal(sqlState: string, message: string): Uint8Array {
  const body = new TextEncoder().encode(`SFATAL\0VFATAL\0C${sqlState}\0M${message}\0\0`);
  const out = new Uint8Array(5 + body.length);
  out[0] = 0x45; // 'E'
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

function readInt32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset + at, 4).getInt32(0);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}
