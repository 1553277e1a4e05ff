/**
 * The last hour of counts for the chart: seeded from GET /internal/dashboard/history
 * (so a reload does not start empty), then extended by every `dashboard.counts`
 * frame, and carried forward every 10 s so the lines reach "now" between changes.
 */
import { signal } from "@preact/signals";
import { ApiError } from "./api";
import { connectedEpoch, counts, onCounts } from "./live";
import { api } from "./session";
import type { Counts, HistoryPoint } from "./types";

export const WINDOW_SECONDS = 3600;
const CARRY_EVERY_MS = 10_000;

/** Columns as uPlot takes them: x in seconds since the epoch, then one array per series. */
export interface Series {
  x: number[];
  online: number[];
  available: number[];
  active: number[];
  pending: number[];
}

const empty = (): Series => ({ x: [], online: [], available: [], active: [], pending: [] });

export const series = signal<Series>(empty());
/** "unavailable" when the gateway has no history route: the chart starts from the live frames. */
export const historyState = signal<"idle" | "loading" | "ready" | "unavailable">("idle");

let carryTimer: ReturnType<typeof setInterval> | undefined;
let offCounts: (() => void) | undefined;
let offEpoch: (() => void) | undefined;
let seededEpoch = 0;

function append(s: Series, atMs: number, c: Counts): Series {
  const t = atMs / 1000;
  const next: Series = {
    x: [...s.x, t],
    online: [...s.online, c.online],
    available: [...s.available, c.available],
    active: [...s.active, c.activeSessions],
    pending: [...s.pending, c.pendingSessions],
  };
  return trim(next, t);
}

function trim(s: Series, nowSeconds: number): Series {
  const from = nowSeconds - WINDOW_SECONDS;
  let i = 0;
  while (i < s.x.length && (s.x[i] as number) < from) i++;
  if (i === 0) return s;
  return {
    x: s.x.slice(i),
    online: s.online.slice(i),
    available: s.available.slice(i),
    active: s.active.slice(i),
    pending: s.pending.slice(i),
  };
}

async function seed(): Promise<void> {
  historyState.value = "loading";
  try {
    const { points } = await api<{ points: HistoryPoint[] }>("GET", "/internal/dashboard/history");
    let s = empty();
    for (const p of points) {
      const at = Date.parse(p.at);
      if (Number.isFinite(at)) s = append(s, at, p);
    }
    // Frames that arrived while the history loaded are newer than its last point.
    const live = series.value;
    const last = s.x.at(-1) ?? 0;
    for (let i = 0; i < live.x.length; i++) {
      const t = live.x[i] as number;
      if (t > last)
        s = append(s, t * 1000, {
          online: live.online[i] as number,
          available: live.available[i] as number,
          deactivated: 0,
          activeSessions: live.active[i] as number,
          pendingSessions: live.pending[i] as number,
        });
    }
    series.value = s;
    historyState.value = "ready";
  } catch (err) {
    historyState.value = err instanceof ApiError && err.status === 404 ? "unavailable" : "ready";
  }
}

export function startHistory(): void {
  stopHistory();
  series.value = empty();
  offCounts = onCounts((c, at) => {
    series.value = append(series.value, at, c);
  });
  // Seeded now; a reconnect (a later hello) reseeds, since the gateway kept sampling during the gap.
  void seed();
  seededEpoch = connectedEpoch.peek();
  let firstHello = true;
  offEpoch = connectedEpoch.subscribe((n) => {
    if (n <= seededEpoch) return;
    seededEpoch = n;
    if (firstHello) firstHello = false;
    else void seed();
  });
  carryTimer = setInterval(() => {
    const c = counts.value;
    const lastX = series.value.x.at(-1) ?? 0;
    if (c && Date.now() / 1000 - lastX >= CARRY_EVERY_MS / 1000 - 0.5)
      series.value = append(series.value, Date.now(), c);
  }, CARRY_EVERY_MS);
}

export function stopHistory(): void {
  offCounts?.();
  offEpoch?.();
  clearInterval(carryTimer);
  offCounts = offEpoch = carryTimer = undefined;
  series.value = empty();
  historyState.value = "idle";
}
