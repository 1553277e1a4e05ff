/** Time is a dependency: expiry, cooldowns, lockouts and staleness read an injected clock. */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();

export const epochSeconds = (d: Date): number => Math.floor(d.getTime() / 1000);

/** Whole seconds from `now` until `later`, at least 1 (for Retry-After). */
export const secondsUntil = (later: Date, now: Date): number =>
  Math.max(1, Math.ceil((later.getTime() - now.getTime()) / 1000));
