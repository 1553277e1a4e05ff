export interface TickBatchOptions {
  /**
   * 0 flushes at the end of this event-loop turn; a small window (1–2 ms)
   * gathers more requests per call at moderate rates, where a turn often
   * holds just one.
   */
  windowMs?: number;
  /**
   * Calls allowed in flight at once (group commit): while they all run, new
   * requests wait and go together in the next call, so a batch grows with
   * the load instead of the queue. Unbounded when omitted.
   */
  maxInFlight?: number;
  /** Keys per call at most; the rest go in the next call. */
  maxBatch?: number;
}

interface Slot<V, R> {
  value: V;
  waiters: { resolve: (r: R) => void; reject: (e: unknown) => void }[];
}

/**
 * Gathers the requests of one event-loop tick and answers them with one call
 * (one Valkey round trip for a whole tick's heartbeats or revocation checks,
 * one Postgres statement for a tick's chat messages, the way a database
 * driver pipelines). Duplicate keys in a tick share one slot and one result;
 * the first request's value is the one the call sees.
 */
export class TickBatch<K, R, V = K> {
  private pending = new Map<K, Slot<V, R>>();
  private scheduled = false;
  private inFlight = 0;
  private readonly windowMs: number;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;

  constructor(
    private readonly run: (keys: K[], values: V[]) => Promise<R[]>,
    opts: number | TickBatchOptions = {},
  ) {
    const o = typeof opts === "number" ? { windowMs: opts } : opts;
    this.windowMs = o.windowMs ?? 0;
    this.maxInFlight = o.maxInFlight ?? Number.POSITIVE_INFINITY;
    this.maxBatch = o.maxBatch ?? Number.POSITIVE_INFINITY;
  }

  /** `value` is what the call receives for this key (the key itself when omitted). */
  get(key: K, value?: V): Promise<R> {
    return new Promise((resolve, reject) => {
      const slot = this.pending.get(key);
      if (slot) slot.waiters.push({ resolve, reject });
      else this.pending.set(key, { value: value ?? (key as unknown as V), waiters: [{ resolve, reject }] });
      this.schedule(this.windowMs);
    });
  }

  private schedule(windowMs: number): void {
    if (this.scheduled || this.pending.size === 0 || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    if (windowMs > 0) setTimeout(() => void this.flush(), windowMs);
    else setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.take();
    this.inFlight++;
    // What is left over (past maxBatch) may go at once, in another call.
    this.schedule(0);
    const keys = [...batch.keys()];
    try {
      const results = await this.run(
        keys,
        keys.map((k) => (batch.get(k) as Slot<V, R>).value),
      );
      keys.forEach((k, i) => {
        for (const w of batch.get(k)?.waiters ?? []) w.resolve(results[i] as R);
      });
    } catch (err) {
      for (const slot of batch.values()) for (const w of slot.waiters) w.reject(err);
    } finally {
      this.inFlight--;
      // Requests that waited for a free call go now, together.
      this.schedule(0);
    }
  }

  private take(): Map<K, Slot<V, R>> {
    if (this.pending.size <= this.maxBatch) {
      const all = this.pending;
      this.pending = new Map();
      return all;
    }
    const some = new Map<K, Slot<V, R>>();
    for (const [k, slot] of this.pending) {
      if (some.size >= this.maxBatch) break;
      some.set(k, slot);
      this.pending.delete(k);
    }
    return some;
  }
}
