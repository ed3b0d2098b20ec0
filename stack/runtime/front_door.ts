/**
 * The stack's TCP port: a cap on open connections in front of the gateway. Deno.serve cannot
 * count or refuse connections, and every idle one holds a file descriptor until the process
 * runs out and fails in places far from the cause ("Too many open files"). So the port is
 * this accept loop: up to `maxConnections` are passed byte for byte to the gateway's server on
 * a Unix socket only this user can reach; one more is answered `503 too_many_connections` and
 * closed; a connection with no bytes either way for `idleMs` is closed.
 */

export interface FrontDoorOptions {
  /** The stack's port, bound when the start began (so no other program can take it meanwhile). */
  listener: Deno.TcpListener;
  /** The gateway's own server (Deno.serve on a Unix socket). */
  socket: string;
  maxConnections: number;
  idleMs: number;
  log: (line: string) => void;
}

export interface FrontDoor {
  port: number;
  /** Connections open right now (tests and /health read it). */
  open(): number;
  /** Take no new connections; the open ones finish what they carry. */
  stopAccepting(): void;
  /** Close every connection still open. */
  close(): void;
}

const REFUSAL = (() => {
  const body = JSON.stringify({
    code: "too_many_connections",
    message: "The local stack has too many open connections; retry once some have closed.",
  });
  return new TextEncoder().encode(
    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n" +
      "sb-error-code: too_many_connections\r\nretry-after: 1\r\nconnection: close\r\n" +
      `content-length: ${body.length}\r\n\r\n${body}`,
  );
})();

export function openFrontDoor(options: FrontDoorOptions): FrontDoor {
  const listener = options.listener;
  let open = 0;
  let refusedSince = 0;
  let lastWarning = 0;
  /** Open client connections: their relay's last activity and both ends. */
  const conns = new Map<Deno.Conn, Pair>();
  // One sweep closes every pair idle past idleMs.
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const pair of conns.values()) if (now - pair.last > options.idleMs) closePair(pair);
  }, Math.max(100, Math.min(options.idleMs / 2, 5_000)));
  (async () => {
    for await (const conn of acceptForever(listener)) {
      if (open >= options.maxConnections) {
        refusedSince++;
        if (Date.now() - lastWarning > 10_000) {
          lastWarning = Date.now();
          options.log(
            `[gateway] ${options.maxConnections} connections are open: refusing new ones (${refusedSince} so far)`,
          );
        }
        conn.write(REFUSAL).catch(() => {}).finally(() => conn.close());
        continue;
      }
      open++;
      const pair: Pair = { client: conn, upstream: null, last: Date.now() };
      conns.set(conn, pair);
      relay(pair, options).finally(() => {
        open--;
        conns.delete(conn);
      });
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    open: () => open,
    stopAccepting() {
      try {
        listener.close();
      } catch { /* closed */ }
    },
    close() {
      clearInterval(sweeper);
      try {
        listener.close();
      } catch { /* closed */ }
      for (const pair of conns.values()) closePair(pair);
    },
  };
}

/** Accept until the listener is closed; a failed accept (no descriptors left) is retried. */
async function* acceptForever(listener: Deno.Listener): AsyncGenerator<Deno.Conn> {
  while (true) {
    try {
      yield await listener.accept();
    } catch (error) {
      if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
        return;
      }
      await new Promise((r) => setTimeout(r, 50)); // e.g. EMFILE: wait for one to free up
    }
  }
}

interface Pair {
  client: Deno.Conn;
  upstream: Deno.UnixConn | null;
  last: number;
}

function closePair(pair: Pair): void {
  for (const conn of [pair.client, pair.upstream]) {
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}

async function relay(pair: Pair, options: FrontDoorOptions): Promise<void> {
  try {
    pair.upstream = await Deno.connect({ transport: "unix", path: options.socket });
  } catch {
    closePair(pair);
    return;
  }
  (pair.client as Deno.TcpConn).setNoDelay?.(true);
  const touch = () => (pair.last = Date.now());
  await Promise.all([
    copy(pair.client, pair.upstream, touch),
    copy(pair.upstream, pair.client, touch),
  ]);
  closePair(pair);
}

/** Bytes from one side to the other, through one reused buffer; half-close at the end. */
async function copy(from: Deno.Conn, to: Deno.Conn, touch: () => void): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      touch();
      let sent = 0;
      while (sent < n) sent += await to.write(buffer.subarray(sent, n));
    }
  } catch { /* either side went away */ }
  try {
    await to.closeWrite();
  } catch { /* closed */ }
}
