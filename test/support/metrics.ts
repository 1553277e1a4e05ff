/**
 * One sample of a gateway's /metrics (Prometheus text), e.g.
 * `metricValue(url, "halo_ws_sockets", 'user_type="customer"')`; 0 when the
 * series has no sample yet (a counter that never moved).
 */
export async function metricValue(internalUrl: string, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${internalUrl}/metrics`)).text();
  const series = `${name}${labels ? `{${labels}}` : ""} `;
  const line = text.split("\n").find((l) => l.startsWith(series));
  return line ? Number(line.slice(series.length)) : 0;
}
