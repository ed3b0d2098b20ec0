/**
 * HTTP load from its own process: `concurrency` workers send GET requests with a bearer
 * token to `url` for `seconds`, then print {requests, seconds, rps, statuses, cpuMs} as JSON
 * (cpuMs: this process's CPU time during the load, so the bench can take the client's share out).
 *   deno run -A bench/load.ts <url> <token> <seconds> <concurrency>
 */
import { cpuMs } from "./cpu.ts";

const [url, token, seconds, concurrency] = Deno.args;
const deadline = performance.now() + Number(seconds) * 1000;
const statuses: Record<string, number> = {};
let requests = 0;
const started = performance.now();
const cpuAtStart = cpuMs("self") ?? 0; // the load's own CPU, not the process start
await Promise.all(Array.from({ length: Number(concurrency) }, async () => {
  while (performance.now() < deadline) {
    const r = await fetch(url!, { headers: { authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    requests++;
  }
}));
const elapsed = (performance.now() - started) / 1000;
console.log(JSON.stringify({
  requests,
  seconds: elapsed,
  rps: requests / elapsed,
  statuses,
  cpuMs: (cpuMs("self") ?? 0) - cpuAtStart,
}));
