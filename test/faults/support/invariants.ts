import pg from "pg";
import type { HaloClient } from "../../../packages/client/src/node.js";
import type { FaultProbes } from "./probes.js";
import type { LoadSession, SteadyLoad } from "./steady-load.js";

/** What was acknowledged to a client and not found afterwards; every list must be empty. */
export interface Losses {
  /** `session/message` acknowledged but missing from a party's catch-up. */
  messages: string[];
  /** A session whose stored status is behind the last transition acknowledged. */
  transitions: string[];
  /** The revoked token, or the deactivated mitra's, still accepted. */
  revocations: string[];
  /** Heartbeats of a deactivated mitra accepted, or its mirror still saying online/active. */
  deactivations: string[];
  /** Mitras that kept heartbeating but were turned offline (auto_offline rows, or offline at the end). */
  offline: string[];
}

export const lostCount = (l: Losses): number =>
  l.messages.length + l.transitions.length + l.revocations.length + l.deactivations.length + l.offline.length;

const ORDER = { pending_payment: 0, active: 1, ended: 2 } as const;

/** Checks every invariant of the fault suite after the load stopped and the fault is over. */
export async function checkInvariants(opts: {
  load: SteadyLoad;
  probes: FaultProbes;
  publicUrl: string;
  databaseUrl: string;
  /** Mitra ids in the Valkey online set now (null when it cannot be read directly). */
  valkeyOnline: () => Promise<Set<string> | null>;
  since: Date;
}): Promise<Losses> {
  const { load, probes } = opts;
  const losses: Losses = { messages: [], transitions: [], revocations: [], deactivations: [], offline: [] };
  const sessions = [...load.sessions.values()];

  for (let i = 0; i < sessions.length; i += 20)
    await Promise.all(sessions.slice(i, i + 20).map((s) => checkSession(load, s, losses)));

  // Revocation: the old token is refused on the very next request.
  if (probes.revokedToken) {
    const me = await fetch(`${opts.publicUrl}/api/client/auth/me`, {
      headers: { authorization: `Bearer ${probes.revokedToken}` },
    });
    if (me.status !== 401) losses.revocations.push(`revoked token answered ${me.status}`);
  } else losses.revocations.push("the logout-all was never acknowledged");

  // Deactivation: no heartbeat accepted after it, its old token refused, the mirror knows.
  const d = probes.deactivated;
  if (d?.deactivatedAt && probes.deactivatedToken) {
    if (d.acceptedAfterDeactivation > 0)
      losses.deactivations.push(`${d.acceptedAfterDeactivation} heartbeats accepted after deactivation`);
    const hb = await fetch(`${opts.publicUrl}/api/mitra/status/heartbeat`, {
      method: "POST",
      headers: { authorization: `Bearer ${probes.deactivatedToken}` },
    });
    if (hb.status === 204) losses.deactivations.push("HTTP heartbeat with its old token accepted");
    const online = await opts.valkeyOnline();
    if (online?.has(d.id)) losses.deactivations.push("still in the Valkey online set");
  } else losses.deactivations.push("the deactivation was never acknowledged");

  // No mitra that kept heartbeating was turned offline, in Postgres or in the mirror.
  const active = load.activeMitras().map((m) => m.id);
  const db = new pg.Client({ connectionString: opts.databaseUrl });
  await db.connect();
  try {
    const auto = await db.query<{ mitra_id: string }>(
      "SELECT DISTINCT mitra_id FROM mitra_status_log WHERE status = 'auto_offline' AND at >= $1 AND mitra_id = ANY($2)",
      [opts.since, active],
    );
    for (const r of auto.rows) losses.offline.push(`${r.mitra_id} auto_offline`);
    const off = await db.query<{ id: string }>("SELECT id FROM mitras WHERE id = ANY($1) AND NOT is_online", [
      active,
    ]);
    for (const r of off.rows) losses.offline.push(`${r.id} offline in Postgres`);
    if (d) {
      const row = await db.query<{ is_active: boolean }>("SELECT is_active FROM mitras WHERE id = $1", [
        d.id,
      ]);
      if (row.rows[0]?.is_active !== false) losses.deactivations.push("active again in Postgres");
    }
  } finally {
    await db.end();
  }
  const online = await opts.valkeyOnline();
  if (online)
    for (const id of active) if (!online.has(id)) losses.offline.push(`${id} missing from Valkey online`);
  return losses;
}

/** Both parties read the session's log from the start (a fresh catch-up) and its status. */
async function checkSession(load: SteadyLoad, s: LoadSession, losses: Losses): Promise<void> {
  const parties: HaloClient[] = [s.customer.client];
  const mitra = load.mitras.find((m) => m.id === s.mitraId);
  if (mitra && mitra.deactivationAskedAt === null) parties.push(mitra.client);
  for (const client of parties) {
    const seen = await readLog(client, s.id);
    for (const id of s.acked.keys()) if (!seen.has(id)) losses.messages.push(`${s.id}/${id}`);
  }
  const now = await s.customer.client.sessions.get(s.id).catch(() => null);
  if (!now) losses.transitions.push(`${s.id}: unreadable`);
  else if (ORDER[now.status as keyof typeof ORDER] < ORDER[s.status])
    losses.transitions.push(`${s.id}: acknowledged ${s.status}, stored ${now.status}`);
}

/** Every message of a session, read as the SDK's catch-up reads it (the log, page by page), retried. */
async function readLog(client: HaloClient, sessionId: string): Promise<Set<string>> {
  for (let attempt = 0; ; attempt++) {
    try {
      const ids = new Set<string>();
      let after: string | null = null;
      for (;;) {
        const page = await client.sessions.messages(sessionId, { after, limit: 200 });
        for (const m of page.items) ids.add(m.id);
        after = page.items.at(-1)?.id ?? after;
        if (page.nextCursor === null) return ids;
      }
    } catch (err) {
      if (attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
