/**
 * Gathers the requests of one event-loop tick and answers them with one call
 * (one Valkey round trip for a whole tick's heartbeats or revocation checks,
 * the way a database driver pipelines). Duplicate keys in a tick share one slot.
 */
export class TickBatch<K, R> {
  private pending = new Map<K, { resolve: (r: R) => void; reject: (e: unknown) => void }[]>();
  private scheduled = false;

  /**
   * `windowMs` 0 flushes at the end of this event-loop turn; a small window
   * (1 ms) gathers more requests per call at moderate rates, where a turn
   * often holds just one.
   */
  constructor(
    private readonly run: (keys: K[]) => Promise<R[]>,
    private readonly windowMs = 0,
  ) {}

  get(key: K): Promise<R> {
    return new Promise((resolve, reject) => {
      const waiters = this.pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        if (this.windowMs > 0) setTimeout(() => void this.flush(), this.windowMs);
        else setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    const keys = [...batch.keys()];
    try {
      const results = await this.run(keys);
      keys.forEach((k, i) => {
        for (const w of batch.get(k) ?? []) w.resolve(results[i] as R);
      });
    } catch (err) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
    }
  }
}
