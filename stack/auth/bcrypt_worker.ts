/**
 * bcrypt off the main thread: the gateway, PGlite and the local Auth share one event loop,
 * and one bcrypt at cost 10 takes ~90 ms of CPU. Messages: {id, op: "hash", password, cost}
 * or {id, op: "compare", password, hash}; answers {id, result} or {id, error}.
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import bcrypt from "bcryptjs";

type Job =
  | { id: number; op: "hash"; password: string; cost: number }
  | { id: number; op: "compare"; password: string; hash: string };

self.onmessage = async (event: MessageEvent<Job>) => {
  const job = event.data;
  try {
    const result = job.op === "hash"
      ? await bcrypt.hash(job.password, job.cost)
      : await bcrypt.compare(job.password, job.hash);
    self.postMessage({ id: job.id, result });
  } catch (error) {
    self.postMessage({ id: job.id, error: String((error as Error).message ?? error) });
  }
};
