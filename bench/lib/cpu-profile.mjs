/**
 * Summary of a V8 .cpuprofile (node --cpu-prof): self time per function and
 * per origin (a node_modules package, the gateway's dist/ file, node's own
 * modules, or V8's pseudo-frames such as "(garbage collector)" and
 * "(program)", the latter being native code outside JS: uWS, libuv, syscalls).
 * Shares are of the non-idle time.
 */

function origin(url, functionName) {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) return `dist/${dist[1]}`;
  if (url.startsWith("node:")) return "node (built-in modules)";
  return url.replace(/^file:\/\//, "");
}

function shortUrl(url) {
  if (!url) return "";
  const nm = /node_modules\/(.+)$/.exec(url);
  if (nm) return nm[1];
  const dist = /\/(dist\/.+)$/.exec(url);
  return dist ? dist[1] : url.replace(/^file:\/\//, "");
}

export function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time from sample i−1 to sample i: charge it to sample i's frame.
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + (timeDeltas[i] ?? 0));
  }
  const frames = new Map();
  const origins = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id).callFrame;
    const fn = cf.functionName || "(anonymous)";
    if (fn === "(idle)") {
      idle += us;
      continue;
    }
    total += us;
    const where = cf.url ? ` ${shortUrl(cf.url)}:${cf.lineNumber + 1}` : "";
    const key = `${fn}${where}`;
    frames.set(key, (frames.get(key) ?? 0) + us);
    const o = origin(cf.url, fn);
    origins.set(o, (origins.get(o) ?? 0) + us);
  }
  const sorted = (m) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, us, share: us / total }));
  return { totalUs: total, idleUs: idle, frames: sorted(frames), origins: sorted(origins) };
}

/** Printable table of the top `n` frames by self time, then the origins. */
export function topFrames(profile, n = 20) {
  const s = summarize(profile);
  const lines = [
    `busy ${(s.totalUs / 1e6).toFixed(2)} s, idle ${(s.idleUs / 1e6).toFixed(2)} s; self time, share of busy time:`,
  ];
  for (const f of s.frames.slice(0, n))
    lines.push(
      `  ${(f.share * 100).toFixed(1).padStart(5)} %  ${(f.us / 1000).toFixed(0).padStart(6)} ms  ${f.name}`,
    );
  lines.push("by origin:");
  for (const o of s.origins.slice(0, 15))
    lines.push(
      `  ${(o.share * 100).toFixed(1).padStart(5)} %  ${(o.us / 1000).toFixed(0).padStart(6)} ms  ${o.name}`,
    );
  return lines.join("\n");
}
