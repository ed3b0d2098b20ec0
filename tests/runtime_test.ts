/**
 * Functions run as the edge runtime runs them (stack/runtime/): one process each, hot reload,
 * env file, verify_jwt, limits. A private stack serves a scratch functions folder with its
 * own supabase/config.toml, so these tests can edit, break and starve functions freely.
 */
import assert from "node:assert/strict";
import { type Stack, startStack } from "../stack/start.ts";
import { E2E } from "./helpers/stack.ts";

const dir = await Deno.makeTempDir({ prefix: "edge-runtime-test-" });
const fns = `${dir}/functions`;
const logs: string[] = [];

const FILES: Record<string, string> = {
  "_lib/version.ts": `export const shared = "s1";\n`,
  "hello/index.ts": `import { shared } from "../_lib/version.ts";
let count = 0;
export default {
  fetch: (req: Request) => Response.json({
    v: 1, shared, count: ++count,
    secret: Deno.env.get("MY_SECRET") ?? null,
    url: Deno.env.get("SUPABASE_URL") ?? null,
    home: Deno.env.get("HOME") ?? null,
    noProxy: Deno.env.get("NO_PROXY") ?? null,
    extraCa: Deno.env.get("NODE_EXTRA_CA_CERTS") ?? null,
    path: new URL(req.url).pathname,
  }),
};
`,
  "served/index.ts": `Deno.serve((req) => new Response("served " + req.method));\n`,
  "exit/index.ts": `export default { fetch: () => { Deno.exit(3); } };\n`,
  "loop/index.ts": `export default { fetch: () => { for (;;) { /* burn */ } } };\n`,
  "sleep/index.ts":
    `export default { fetch: async () => { await new Promise((r) => setTimeout(r, 10_000)); return new Response("late"); } };\n`,
  // A body of declared length that takes longer than the wall clock to arrive.
  "trickle/index.ts": `export default {
  fetch: () => new Response(new ReadableStream({
    async start(c) {
      c.enqueue(new TextEncoder().encode("a"));
      await new Promise((r) => setTimeout(r, 6_000));
      c.enqueue(new TextEncoder().encode("bcdefghij"));
      c.close();
    },
  }), { headers: { "content-length": "10" } }),
};
`,
  // 64 MB of heap a step: over the memory limit at once, long before its CPU limit (with small
  // steps a loaded machine's garbage collector could spend the CPU limit first).
  "hog/index.ts": `const keep: unknown[] = [];
export default { fetch: () => { for (;;) keep.push(new Array(8_000_000).fill(keep.length)); } };
`,
  "echo/index.ts": `export default {
  fetch: async (req: Request) => {
    let bytes = 0;
    for await (const chunk of req.body!) bytes += chunk.byteLength;
    return Response.json({ bytes });
  },
};
`,
  "stream/index.ts": `export default {
  fetch: (req: Request) => {
    req.signal.addEventListener("abort", () => console.log("client went away"));
    let n = 0;
    const body = new ReadableStream({
      async pull(c) {
        await new Promise((r) => setTimeout(r, 50));
        c.enqueue(new TextEncoder().encode("tick " + n++ + "\\n"));
      },
    });
    return new Response(body);
  },
};
`,
  "perm/index.ts": `export default {
  fetch: async () => {
    const tries: Record<string, string> = {};
    const attempt = async (name: string, f: () => unknown) => {
      try { await f(); tries[name] = "allowed"; } catch (e) { tries[name] = (e as Error).name; }
    };
    await attempt("run", () => new Deno.Command("/bin/true").output());
    await attempt("writeOutside", () => Deno.writeTextFile("/tmp/edge-runtime-escape.txt", "x"));
    await attempt("readEtc", () => Deno.readTextFile("/etc/hostname"));
    await attempt("writeTmp", () => Deno.writeTextFile(Deno.env.get("TMPDIR") + "/ok.txt", "x"));
    return Response.json(tries);
  },
};
`,
  "secure/index.ts": `export default { fetch: () => new Response("inside") };\n`,
  // Memory outside the V8 heap: ArrayBuffers, WebAssembly memory, a worker thread's.
  "buffers/index.ts": `export default {
  fetch: async () => {
    const keep: Uint8Array[] = [];
    for (;;) {
      keep.push(new Uint8Array(16 << 20).fill(1));
      await new Promise((r) => setTimeout(r, 5));
    }
  },
};
`,
  "wasm/index.ts": `export default {
  fetch: async () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    for (;;) {
      const before = memory.buffer.byteLength;
      memory.grow(256);
      new Uint8Array(memory.buffer).fill(1, before);
      await new Promise((r) => setTimeout(r, 5));
    }
  },
};
`,
  // The thread starts allocating a moment after the answer (under load, not before it is sent).
  "threads/index.ts": `const code = \`const keep = [];
setTimeout(() => setInterval(() => keep.push(new Uint8Array(16 << 20).fill(1)), 5), 300);\`;
export default {
  fetch: () => {
    new Worker(URL.createObjectURL(new Blob([code], { type: "text/javascript" })), { type: "module" });
    return new Response("started");
  },
};
`,
  // CPU burnt after the answer has gone, on the main thread or in a worker thread.
  "spin-after/index.ts": `export default {
  fetch: () => {
    setTimeout(() => { for (;;) { /* burn */ } }, 10);
    return new Response("answered");
  },
};
`,
  "spin-thread/index.ts": `const code = "for (;;) { /* burn */ }";
export default {
  fetch: () => {
    new Worker(URL.createObjectURL(new Blob([code], { type: "text/javascript" })), { type: "module" });
    return new Response("answered");
  },
};
`,
  "listen/index.ts": `export default {
  fetch: () => {
    const l = Deno.listen({ hostname: "0.0.0.0", port: 0 });
    const kind = (l.addr as Deno.NetAddr).hostname === "0.0.0.0" ? "no-op" : "opened";
    l.close();
    return Response.json({ denoListen: kind });
  },
};
`,
  // node:net reaches the socket ops directly: the permission refuses the wildcard bind.
  "listen-node/index.ts": `import net from "node:net";
export default {
  fetch: () => {
    net.createServer().listen(0, "0.0.0.0");
    return new Promise<Response>((r) => setTimeout(() => r(new Response("bound")), 500));
  },
};
`,
  // Output shaped like the host's control lines: it must not steer the stack.
  "fake-ready/index.ts": `console.log(JSON.stringify({ ready: "guess" }));
console.log(JSON.stringify({ listening: 1 }));
export default { fetch: () => new Response("real") };
`,
  "thrower/index.ts": `export default {
  fetch: () => {
    console.log("about to fail");
    throw new Error("boom in thrower");
  },
};
`,
  "headers/index.ts": `export default {
  fetch: (req: Request) => Response.json(Object.fromEntries(req.headers)),
};
`,
  // Calls another function until its request chain is over budget.
  "caller/index.ts": `export default {
  fetch: async () => {
    let ok = 0;
    for (let i = 0; i < 15; i++) {
      try {
        const r = await fetch(Deno.env.get("SUPABASE_URL") + "/functions/v1/hello");
        await r.body?.cancel();
        ok++;
      } catch (e) {
        return Response.json({ ok, error: (e as Error).name, retryAfter: (e as { retryAfter?: number }).retryAfter ?? null });
      }
    }
    return Response.json({ ok, error: null });
  },
};
`,
  "restcall/index.ts": `export default {
  fetch: async (req: Request) => {
    const r = await fetch(Deno.env.get("SUPABASE_URL") + "/rest/v1/posts?select=id", {
      headers: {
        apikey: Deno.env.get("SUPABASE_ANON_KEY")!,
        authorization: req.headers.get("authorization") ?? "",
      },
    });
    const internal = Object.keys(Deno.env.toObject()).filter((k) => k.startsWith("SUPABASE_INTERNAL_"));
    return Response.json({ status: r.status, body: await r.json(), internal });
  },
};
`,
};

const CONFIG = `
[edge_runtime]
policy = "per_worker"
${
  Object.keys(FILES).filter((f) => !f.startsWith("_") && !f.startsWith("secure"))
    .map((f) => `[functions.${f.split("/")[0]}]\nverify_jwt = false\n`).join("\n")
}
[functions.secure]
verify_jwt = true

[functions.off]
enabled = false
entrypoint = "./functions/hello/index.ts"
`;

async function write(path: string, text: string) {
  const full = `${fns}/${path}`;
  await Deno.mkdir(full.replace(/\/[^/]+$/, ""), { recursive: true });
  await Deno.writeTextFile(full, text);
}
for (const [path, text] of Object.entries(FILES)) await write(path, text);
await Deno.writeTextFile(`${dir}/config.toml`, CONFIG);
await Deno.writeTextFile(`${fns}/.env`, "MY_SECRET=first\nSUPABASE_URL=http://evil.example\n");

// The machine's network settings reach a function (to download its imports behind a proxy); a
// NO_PROXY entry for a host no test uses is harmless to every other test here.
const NO_PROXY = [Deno.env.get("NO_PROXY"), "runtime-test.invalid"].filter(Boolean).join(",");
Deno.env.set("NO_PROXY", NO_PROXY);

let stack: Stack | undefined;
async function theStack(): Promise<Stack> {
  stack ??= await startStack({
    port: 0,
    dataDir: null,
    keysPath: null,
    configToml: `${dir}/config.toml`,
    functionEnv: {
      FUNCTION_CALLS_PER_MINUTE: "10",
      FUNCTIONS_WALL_CLOCK_LIMIT_SEC: "2",
      FUNCTIONS_CPU_TIME_LIMIT_MS: "500",
      FUNCTIONS_MEMORY_LIMIT_MB: "64",
    },
    log: (line) => logs.push(line),
  });
  return stack;
}
globalThis.addEventListener("unload", () => {
  stack?.stop();
  Deno.removeSync(dir, { recursive: true });
});

async function call(name: string, init: RequestInit = {}) {
  const s = (await theStack()).status;
  const r = await fetch(`${s.functions_url}/${name}`, init);
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* text */ }
  // deno-lint-ignore no-explicit-any
  return { status: r.status, body: body as any, headers: r.headers };
}

/** Poll until `check` passes (hot reload is asynchronous), at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check()) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("condition not met in time");
}

Deno.test({
  name: "runtime: a function gets the platform env plus the env file; its own state; no HOME",
  ...E2E,
  async fn() {
    const s = (await theStack()).status;
    const first = await call("hello/sub/path?x=1");
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.secret, "first");
    assert.equal(first.body.url, s.api_url, "SUPABASE_ names in the env file are skipped");
    assert.equal(first.body.home, null);
    assert.equal(first.body.noProxy, NO_PROXY, "proxy settings pass through");
    assert.equal(first.body.extraCa, Deno.env.get("NODE_EXTRA_CA_CERTS") ?? null);
    assert.equal(first.body.path, "/functions/v1/hello/sub/path");
    assert.equal((await call("hello")).body.count, 2, "a warm process keeps module state");
    assert.ok(
      logs.some((l) => l.includes("MY_SECRET") === false && l.includes("SUPABASE_URL skipped")),
    );
    assert.equal((await call("served", { method: "POST" })).body, "served POST");
    assert.equal((await call("off")).status, 404, "enabled = false");
  },
});

Deno.test({
  name: "runtime: permissions as hosted: no subprocess, no writes or reads outside its folders",
  ...E2E,
  async fn() {
    const r = await call("perm");
    assert.deepEqual(r.body, {
      run: "NotCapable",
      writeOutside: "NotCapable",
      readEtc: "NotCapable",
      writeTmp: "allowed",
    });
  },
});

Deno.test({
  name: "runtime: an uncaught error is logged once with the request id that the 500 names",
  ...E2E,
  async fn() {
    const r = await call("thrower");
    assert.equal(r.status, 500);
    assert.equal(r.body.code, "WORKER_ERROR");
    const id = r.headers.get("sb-request-id")!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(r.body.request_id, id);
    await eventually(() =>
      Promise.resolve(logs.some((l) => l.includes(`[fn:thrower] [${id}] GET`)))
    );
    const mine = logs.filter((l) => l.includes(id));
    assert.ok(mine.some((l) => l.includes("about to fail")), "the function's own line has the id");
    const errors = mine.filter((l) => l.includes("uncaught error: Error: boom in thrower"));
    assert.equal(errors.length, 1, "logged once");
    assert.ok(
      mine.some((l) => /at .*thrower\/index\.ts/.test(l)),
      "with its stack, id on each line",
    );
    assert.ok(
      mine.some((l) =>
        /\[fn:thrower\] \[[0-9a-f-]{36}\] GET \/functions\/v1\/thrower 500 \d+ ms/.test(l)
      ),
    );
    // Another request gets another id; a client's own sb-request-id is not believed.
    const again = await call("thrower", { headers: { "sb-request-id": "chosen-by-client-1" } });
    assert.notEqual(again.headers.get("sb-request-id"), id);
    assert.notEqual(again.headers.get("sb-request-id"), "chosen-by-client-1");
  },
});

Deno.test({
  name: "runtime: Deno.exit ends only that function (500 WORKER_ERROR), the next call boots again",
  ...E2E,
  async fn() {
    const r = await call("exit");
    assert.equal(r.status, 500);
    assert.equal(r.body.code, "WORKER_ERROR");
    assert.equal(r.headers.get("sb-error-code"), "WORKER_ERROR");
    assert.equal((await call("hello")).status, 200, "the stack and other functions still run");
    assert.equal((await call("exit")).body.code, "WORKER_ERROR", "a fresh process, same fate");
  },
});

Deno.test({
  name: "runtime: CPU, wall-clock and memory limits stop the function with 546 WORKER_LIMIT",
  ...E2E,
  async fn() {
    const [loop, other] = await Promise.all([
      call("loop"),
      // While one function spins, others answer at once: it spins in its own process.
      new Promise((r) => setTimeout(r, 100)).then(() => call("hello")),
    ]);
    assert.equal(loop.status, 546, JSON.stringify(loop.body));
    assert.equal(loop.body.code, "WORKER_LIMIT");
    assert.equal(other.status, 200);
    // Which limit stopped it is the log's to say (a wall-time bound here failed on a loaded
    // machine, where the process's boot alone can take a second).
    const sleep = await call("sleep");
    assert.equal(sleep.status, 546);
    const hog = await call("hog");
    assert.equal(hog.status, 546, JSON.stringify(hog.body));
    // The stop is logged as the process exits, which may come just after the answer (on a
    // loaded machine, seconds after: one full run missed a 2 s window).
    const logged = (line: string) =>
      eventually(() => Promise.resolve(logs.some((l) => l.includes(line))), 6000)
        .catch(() => {
          const name = line.split(" ")[0]!;
          const about = logs.filter((l) => l.includes(name)).slice(-8).join("\n");
          assert.fail(`not logged: ${line}; its lines were:\n${about}`);
        });
    await logged("loop stopped: cpu_time limit");
    await logged("sleep stopped: wall_clock limit");
    await logged("hog stopped: memory limit");
    // The limit runs until the body has arrived, also when its length was declared up front.
    const trickle = await fetch(`${(await theStack()).status.functions_url}/trickle`)
      .then(async (r) => ({ status: r.status, body: await r.text() }))
      .catch((error: Error) => ({ status: 0, body: error.name }));
    assert.notEqual(trickle.body, "abcdefghij", "the whole body arrived after the wall clock");
    await logged("trickle stopped: wall_clock limit");
  },
});

/** A line in the log, within `ms`. */
function logged(pattern: RegExp, ms = 4000): Promise<number> {
  return eventually(() => Promise.resolve(logs.some((l) => pattern.test(l))), ms)
    .catch(() => assert.fail(`not logged: ${pattern}`));
}

Deno.test({
  name:
    "runtime: memory counts ArrayBuffers, WebAssembly memory and worker threads, not just the heap",
  ...E2E,
  async fn() {
    for (const name of ["buffers", "wasm"]) {
      const r = await call(name);
      assert.equal(r.status, 546, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, "WORKER_LIMIT");
      await logged(
        new RegExp(`^\\[fn:${name}\\] stopped: \\d+ MB in use \\(memory limit 64 MB\\)`),
      );
    }
    // Answered at once; the worker thread's memory is what ends the process.
    assert.equal((await call("threads")).body, "started");
    await logged(/^\[fn:threads\] stopped: \d+ MB in use/);
    assert.equal((await call("threads")).body, "started", "the next request gets a fresh process");
  },
});

Deno.test({
  name:
    "runtime: CPU burnt with no request in flight (a spin after answering, a worker thread) is stopped",
  ...E2E,
  async fn() {
    for (const name of ["spin-after", "spin-thread"]) {
      const started = performance.now();
      assert.equal((await call(name)).body, "answered");
      await logged(
        new RegExp(`^\\[fn:${name}\\] stopped: CPU time with no request in flight`),
        5000,
      );
      // A bucket of one request's 500 ms, refilled at 100 ms/s: gone in about a second.
      assert.ok(performance.now() - started < 5000);
      assert.equal((await call("hello")).status, 200, "others were served meanwhile");
    }
  },
});

Deno.test({
  name:
    "runtime: no listening sockets: Deno.listen is a no-op, wildcard binds are refused, no TCP port",
  ...E2E,
  async fn() {
    assert.deepEqual((await call("listen")).body, { denoListen: "no-op" });
    const node = await call("listen-node");
    assert.equal(node.status, 500, "the refused bind ends that function (Deno's node:net throws)");
    await logged(/^\[fn:listen-node\] .*NotCapable: Requires net access to "0\.0\.0\.0:0"/);
    // The stack reaches a function over a Unix socket: its process holds no listening TCP socket.
    assert.equal((await call("hello")).status, 200);
    const listening = new Set<string>();
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      for (const line of Deno.readTextFileSync(table).split("\n").slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[3] === "0A") listening.add(cols[9]!); // state LISTEN: its inode
      }
    }
    const ps = await new Deno.Command("pgrep", { args: ["-f", `${fns}/hello/`], stdout: "piped" })
      .output();
    const pids = new TextDecoder().decode(ps.stdout).trim().split("\n").filter(Boolean);
    assert.ok(pids.length >= 1, "hello's process is running");
    for (const pid of pids) {
      for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
        const target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        assert.ok(!inode || !listening.has(inode), `process ${pid} listens on TCP`);
      }
    }
  },
});

Deno.test({
  name: "runtime: a function's own output cannot pose as the host's control messages",
  ...E2E,
  async fn() {
    const r = await call("fake-ready");
    assert.equal(r.status, 200);
    assert.equal(r.body, "real");
    assert.ok(logs.some((l) => l === '[fn:fake-ready] {"listening":1}'), "logged as output");
  },
});

Deno.test({
  name: "runtime: function-to-function calls share their request chain's budget (RateLimitError)",
  ...E2E,
  async fn() {
    // FUNCTION_CALLS_PER_MINUTE = 10 for this stack (the platform's is at least 5,000).
    const r = await call("caller");
    assert.deepEqual({ ok: r.body.ok, error: r.body.error }, { ok: 10, error: "RateLimitError" });
    assert.ok(r.body.retryAfter >= 1 && r.body.retryAfter <= 60);
    const again = await call("caller");
    assert.equal(again.body.ok, 10, "an outside request starts a chain of its own");
    assert.equal((await call("hello")).status, 200, "outside calls are not counted");
  },
});

Deno.test({
  name:
    "runtime: a function sees the client's address, not what the client claims, nor hop-by-hop headers",
  ...E2E,
  async fn() {
    const r = await call("headers", {
      headers: {
        "x-forwarded-for": "6.6.6.6",
        "x-real-ip": "6.6.6.6",
        forwarded: "for=6.6.6.6",
        "x-forwarded-host": "evil.example",
        "proxy-authorization": "Basic c2VjcmV0",
      },
    });
    assert.equal(r.body["x-forwarded-for"], "127.0.0.1");
    for (const name of ["x-real-ip", "forwarded", "x-forwarded-host", "proxy-authorization"]) {
      assert.equal(r.body[name], undefined, name);
    }
  },
});

Deno.test({
  name: "runtime: bodies stream both ways; a client that leaves aborts the function's request",
  ...E2E,
  async fn() {
    const s = (await theStack()).status;
    let sent = 0;
    const chunk = new Uint8Array(256 * 1024);
    const upload = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 8 * 1024 * 1024) return c.close();
        sent += chunk.byteLength;
        c.enqueue(chunk);
      },
    });
    const echoed = await fetch(`${s.functions_url}/echo`, { method: "POST", body: upload });
    assert.deepEqual(await echoed.json(), { bytes: 8 * 1024 * 1024 });

    const controller = new AbortController();
    const r = await fetch(`${s.functions_url}/stream`, { signal: controller.signal });
    const reader = r.body!.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /^tick 0/);
    controller.abort();
    await eventually(() => Promise.resolve(logs.some((l) => l.includes("client went away"))));
  },
});

Deno.test({
  name: "runtime: a function's own /rest/v1 calls get the gateway's rule; internal env is hidden",
  ...E2E,
  async fn() {
    const s = (await theStack()).status;
    const issued = await (await fetch(`${s.api_url}/auth/v1/_local/token`, {
      method: "POST",
      headers: { apikey: s.secret_key, "content-type": "application/json" },
      body: JSON.stringify({ sub: crypto.randomUUID() }),
    })).json();
    const ok = await call("restcall", {
      headers: { authorization: `Bearer ${issued.access_token}` },
    });
    assert.deepEqual(ok.body, { status: 200, body: [], internal: [] });
    const { SignJWT } = await import("jose");
    const now = Math.floor(Date.now() / 1000);
    const superuser = await new SignJWT({
      role: "postgres",
      sub: issued.user_id,
      aud: "authenticated",
    })
      .setProtectedHeader({ alg: "HS256" }).setIssuer(`${s.api_url}/auth/v1`).setIssuedAt(now)
      .setExpirationTime(now + 60).sign(new TextEncoder().encode(s.jwt_secret));
    const refused = await call("restcall", { headers: { authorization: `Bearer ${superuser}` } });
    assert.equal(refused.body.status, 401);
    assert.equal(refused.body.body.code, "role_not_allowed");
  },
});

Deno.test({
  name: "runtime: verify_jwt = true checks the JWT before the function runs, as the platform does",
  ...E2E,
  async fn() {
    const s = (await theStack()).status;
    const none = await call("secure");
    assert.equal(none.status, 401);
    assert.deepEqual(none.body, { msg: "Error: Missing authorization header" });
    const bad = await call("secure", { headers: { authorization: "Bearer not.a.jwt" } });
    assert.deepEqual(bad.body, { msg: "Invalid JWT" });
    const ok = await call("secure", { headers: { authorization: `Bearer ${s.anon_key}` } });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, "inside");
    const preflight = await call("secure", { method: "OPTIONS" });
    assert.notEqual(preflight.status, 401, "preflights are not checked");
  },
});

Deno.test({
  name: "runtime: edits reload within a second; new folders serve; a broken edit is 503 then heals",
  ...E2E,
  async fn() {
    const rt = (await theStack()).runtime!;
    assert.equal((await call("hello")).body.v, 1);
    await write("hello/index.ts", FILES["hello/index.ts"]!.replace("v: 1", "v: 2"));
    const took = await eventually(async () => (await call("hello")).body.v === 2);
    assert.ok(took < 1500, `reloaded in ${Math.round(took)} ms`);
    assert.ok(logs.some((l) => l.includes("reloading hello (functions/hello/index.ts changed)")));

    await write("_lib/version.ts", `export const shared = "s2";\n`);
    await rt.settled();
    // Shared code retires every live process; each boots again on its next request only.
    const lazy = logs.find((l) => l.includes("will boot again on their next request"));
    assert.match(lazy ?? "", /\bhello\b.*\(functions\/_lib\/version\.ts changed\)/);
    assert.ok(!logs.some((l) => l.startsWith("[functions] reloading") && l.includes("_lib")));
    await eventually(async () => (await call("hello")).body.shared === "s2");

    await Deno.writeTextFile(`${fns}/.env`, "MY_SECRET=second\n");
    await eventually(async () => (await call("hello")).body.secret === "second");

    await write("brand-new/index.ts", `export default { fetch: () => new Response("new") };\n`);
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      `${CONFIG}\n[functions.brand-new]\nverify_jwt = false\n`,
    );
    await eventually(async () => (await call("brand-new")).body === "new");

    await write("hello/index.ts", "export default { fetch: ( => oops };\n");
    await rt.settled();
    const broken = await call("hello");
    assert.equal(broken.status, 503);
    assert.equal(broken.body.code, "BOOT_ERROR");
    assert.ok(logs.some((l) => l.startsWith("[fn:hello]") && /SyntaxError|error/i.test(l)));
    await write("hello/index.ts", FILES["hello/index.ts"]!.replace("v: 1", "v: 3"));
    await eventually(async () => (await call("hello")).body.v === 3);
  },
});

Deno.test({
  name: "runtime: stopping the stack stops every function process",
  ...E2E,
  async fn() {
    const s = await theStack();
    const hello = await call("hello");
    assert.equal(hello.status, 200);
    await s.stop();
    stack = undefined;
    const ps = await new Deno.Command("pgrep", { args: ["-f", fns], stdout: "piped" }).output();
    assert.equal(new TextDecoder().decode(ps.stdout).trim(), "", "no function process is left");
  },
});

Deno.test({
  name: "runtime: --inspect opens one function's V8 inspector on [edge_runtime] inspector_port",
  ...E2E,
  async fn() {
    const { freePort } = await import("../stack/db/ports.ts");
    const inspectorPort = await freePort();
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      CONFIG.replace("[edge_runtime]", `[edge_runtime]\ninspector_port = ${inspectorPort}`),
    );
    const own = await startStack({
      port: 0,
      dataDir: null,
      keysPath: null,
      configToml: `${dir}/config.toml`,
      inspectFunction: "served",
      log: (line) => logs.push(line),
    });
    try {
      const r = await fetch(`${own.status.functions_url}/served`);
      assert.equal(await r.text(), "served GET");
      const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
      assert.ok(Array.isArray(targets) && targets.length >= 1);
      assert.match(targets[0].webSocketDebuggerUrl, /^ws:\/\/127\.0\.0\.1:/);
    } finally {
      await own.stop();
    }
  },
});
