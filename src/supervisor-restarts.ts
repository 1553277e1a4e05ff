/**
 * When the supervisor restarts a worker that died, and when it stops trying.
 * A worker that dies at once again and again (a bad deploy, a port taken by
 * another program) must not spin the machine: each quick death doubles the
 * wait, and too many deaths in a window end the supervisor with exit 1 so
 * that systemd or the orchestrator sees the failure.
 */

/** First wait before a restart; doubled per recent death, capped. */
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;
/** Deaths counted within this window... */
const WINDOW_MS = 60_000;
/** ...and this many of them is a crash loop. */
const MAX_DEATHS_IN_WINDOW = 5;

export interface RestartDecision {
  giveUp: boolean;
  delayMs: number;
  recentExits: number;
}

export interface RestartPolicy {
  /** A worker died at `now` after running `uptimeMs`. */
  onExit(now: number, uptimeMs: number): RestartDecision;
}

export function restartPolicy(): RestartPolicy {
  const deaths: number[] = [];
  return {
    onExit(now: number, uptimeMs: number): RestartDecision {
      deaths.push(now);
      while (deaths.length > 0 && (deaths[0] as number) <= now - WINDOW_MS) deaths.shift();
      const recentExits = deaths.length;
      // A worker that ran a whole window before dying restarts at once: one death is not a loop.
      const delayMs =
        uptimeMs >= WINDOW_MS ? 0 : Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (recentExits - 1));
      return { giveUp: recentExits >= MAX_DEATHS_IN_WINDOW, delayMs, recentExits };
    },
  };
}
