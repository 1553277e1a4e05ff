import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";

/** SSCAN's COUNT hint, and so about the heartbeats read per MGET. */
const SCAN_COUNT = 1000;

export interface HeartbeatSlice {
  ids: string[];
  /** ISO time of each id's last heartbeat, or null (never, or expired). */
  hbs: (string | null)[];
}

/**
 * Every online mitra with its heartbeat, one slice at a time: SSCAN over the
 * online set, one MGET per slice. SMEMBERS then one MGET of the whole set
 * built and parsed every key and reply in one go (8–14 ms of event loop at
 * 10,000 online, every 30 s and 60 s: docs/performance.md, "Where latency
 * spikes come from"); between slices the loop answers frames. SSCAN may list a member twice: repeats are dropped.
 * A member added or removed while it scans may or may not be listed, as if it
 * changed just before or just after a whole read; one there throughout is
 * always listed.
 */
export async function* onlineHeartbeats(v: ValkeyClient, keys: Keys): AsyncGenerator<HeartbeatSlice> {
  const seen = new Set<string>();
  let cursor = "0";
  do {
    const [next, members] = await v.sscan(keys.mitrasOnline, cursor, "COUNT", SCAN_COUNT);
    cursor = next;
    const ids = members.filter((id) => {
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    if (ids.length > 0) yield { ids, hbs: await v.mget(ids.map((id) => keys.mitraHeartbeat(id))) };
  } while (cursor !== "0");
}
