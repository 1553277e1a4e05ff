import type { Logger } from "../log.js";

type Listener = (mitraIds: string[]) => Promise<void>;

/**
 * Tells the session side that mitras stopped being available — went offline,
 * went stale (auto-offline) or were deactivated — after the change committed,
 * so a session waiting for payment with one of them is rerouted. A listener's
 * failure is logged; the sessions' overdue sweep still ends what it must.
 */
export class PresenceEvents {
  private readonly listeners: Listener[] = [];

  constructor(private readonly log: Logger) {}

  onUnavailable(listener: Listener): void {
    this.listeners.push(listener);
  }

  async unavailable(mitraIds: readonly string[]): Promise<void> {
    if (mitraIds.length === 0) return;
    for (const listener of this.listeners) {
      try {
        await listener([...mitraIds]);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "a listener of unavailable mitras failed");
      }
    }
  }
}
