import { ago, formatTime, nowMs } from "../format";
import { counts, countsAt, link } from "../live";
import { CountsChart } from "./Chart";

const CARDS = [
  { key: "online", label: "Online", mark: "online" },
  { key: "available", label: "Available", mark: "available" },
  { key: "deactivated", label: "Deactivated", mark: "deactivated" },
  { key: "activeSessions", label: "Active sessions", mark: "active" },
  { key: "pendingSessions", label: "Pending payment", mark: "pending" },
] as const;

export function Dashboard() {
  const c = counts.value;
  const at = countsAt.value;
  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Dashboard
      </h1>
      <section aria-labelledby="counts-title">
        <h2 id="counts-title" class="visually-hidden">
          Live counts
        </h2>
        <ul class="cards">
          {CARDS.map((card) => (
            <li key={card.key} class={`card mark-${card.mark}`} data-count={card.key}>
              <span class="card-label">{card.label}</span>
              <span class="card-value">{c ? c[card.key] : "—"}</span>
            </li>
          ))}
        </ul>
        <p class="muted">
          {c
            ? `Updated ${formatTime(at)} (${ago((nowMs.value - at) / 1000)}); pushed by the gateway on every change.`
            : link.value === "open"
              ? "Waiting for the first counts…"
              : "Connecting…"}
        </p>
      </section>
      <section aria-labelledby="chart-title">
        <h2 id="chart-title">Last hour</h2>
        <CountsChart />
      </section>
    </>
  );
}
