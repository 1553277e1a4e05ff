import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { formatTime, nowMs } from "../format";
import { historyState, type Series, series, WINDOW_SECONDS } from "../history";

/** One colour per line; the same colours mark the count cards. */
export const SERIES = [
  { key: "online", label: "Online", color: "#2563eb" },
  { key: "available", label: "Available", color: "#16a34a" },
  { key: "active", label: "Active sessions", color: "#9333ea" },
  { key: "pending", label: "Pending payment", color: "#ea580c" },
] as const;

function columns(s: Series): uPlot.AlignedData {
  return [s.x, s.online, s.available, s.active, s.pending];
}

/**
 * The last hour of online, available, active and pending, drawn by uPlot on a
 * canvas (its stylesheet is bundled as a file; it positions with element.style,
 * which the CSP allows). Times on the axis are in the operator's zone.
 */
export function CountsChart() {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const s = series.value;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(300, el.clientWidth);
    const u = new uPlot(
      {
        width,
        height: 280,
        scales: {
          x: { time: true, range: () => xRange() },
          y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
        },
        // Labels from Intl in the operator's zone and locale, like every other time on the page.
        axes: [
          { values: (_u, splits) => splits.map((t) => hourMinute.format(new Date(t * 1000))) },
          { label: "count", size: 56 },
        ],
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        series: [
          { label: "Time" },
          ...SERIES.map((d) => ({
            label: d.label,
            stroke: d.color,
            width: 2,
            paths: uPlot.paths.stepped?.({ align: 1 }),
            points: { show: false },
          })),
        ],
      },
      columns(series.peek()),
      el,
    );
    plot.current = u;
    const ro = new ResizeObserver(() => {
      u.setSize({ width: Math.max(300, el.clientWidth), height: 280 });
    });
    ro.observe(el);
    // The window slides with the clock even when no count changes.
    const offClock = nowMs.subscribe(() => u.setScale("x", xScale()));
    return () => {
      offClock();
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(columns(s), false);
    plot.current?.setScale("x", xScale());
  }, [s]);

  const n = s.x.length;
  const lastAt = s.x[n - 1];
  const summary =
    n === 0
      ? "No points yet."
      : `Latest at ${formatTime((lastAt as number) * 1000)}: ${s.online[n - 1]} online, ${s.available[n - 1]} available, ${s.active[n - 1]} active sessions, ${s.pending[n - 1]} pending payment.`;
  return (
    <figure class="chart" data-points={n} data-history={historyState.value}>
      <div ref={box} class="chart-canvas" role="img" aria-label="Counts over the last hour" />
      <figcaption>
        Last hour, {n} {n === 1 ? "point" : "points"}. <span data-testid="chart-summary">{summary}</span>
        {historyState.value === "unavailable" && " (no history on this gateway: the chart starts now)"}
      </figcaption>
    </figure>
  );
}

const hourMinute = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function xScale(): { min: number; max: number } {
  const [min, max] = xRange();
  return { min, max };
}

function xRange(): [number, number] {
  const now = Date.now() / 1000;
  return [now - WINDOW_SECONDS, now];
}
