import type { AuthService } from "../auth/auth-service.js";
import { revokeUserSessions } from "../auth/auth-sessions.js";
import type { Clock } from "../clock.js";
import { type Pool, type PoolClient, withTransaction } from "../db/pool.js";
import { AppError, notFound } from "../errors.js";
import type { DeactivatedSet } from "./deactivated-set.js";
import type { MitraMirror, PresenceState } from "./mitra-mirror.js";
import type { PresenceEvents } from "./presence-events.js";

export type StatusLogEntry = "online" | "offline" | "auto_offline" | "deactivated" | "activated";

export interface MitraStatusDeps {
  pool: Pool;
  mirror: MitraMirror;
  auth: AuthService;
  now: Clock;
  verificationRequired: boolean;
  events: PresenceEvents;
  deactivated: DeactivatedSet;
}

export const accountInactive = (): AppError =>
  new AppError("ACCOUNT_INACTIVE", 403, "This account is deactivated");

/**
 * Presence changes of a mitra: Postgres first (committed), the Valkey mirror
 * after, both before the caller answers. One status-log row per change,
 * none for a repeated state. HTTP and WebSocket both call these.
 */
export class MitraStatus {
  constructor(private readonly d: MitraStatusDeps) {}

  async goOnline(mitraId: string): Promise<{ online: true }> {
    const now = this.d.now();
    const state = await withTransaction(this.d.pool, async (tx) => {
      const m = await lockMitra(tx, mitraId);
      if (!m.is_active) throw accountInactive();
      if (this.d.verificationRequired && !m.verified_at) {
        throw new AppError(
          "VERIFICATION_REQUIRED",
          403,
          "Identity verification is required before going online",
        );
      }
      // Going online records a heartbeat, so a mitra that never pings goes stale later.
      const updated = await setPresence(tx, mitraId, "is_online = true, last_heartbeat_at = $2", now);
      if (!m.is_online) await logStatus(tx, mitraId, "online", now);
      return updated;
    });
    await this.d.mirror.applyStatuses([{ ...state, heartbeatIso: now.toISOString() }]);
    return { online: true };
  }

  async goOffline(mitraId: string): Promise<{ online: false }> {
    const now = this.d.now();
    const state = await withTransaction(this.d.pool, async (tx) => {
      const m = await lockMitra(tx, mitraId);
      if (!m.is_online) return presence(m);
      await logStatus(tx, mitraId, "offline", now);
      return setPresence(tx, mitraId, "is_online = false", now);
    });
    await this.d.mirror.applyStatuses([state]);
    await this.d.events.unavailable([mitraId]);
    return { online: false };
  }

  /** Deactivation also takes the mitra offline and revokes every auth session (sockets close). */
  async setActive(mitraId: string, active: boolean): Promise<void> {
    const now = this.d.now();
    const { state, revoked } = await withTransaction(this.d.pool, async (tx) => {
      const m = await lockMitra(tx, mitraId);
      if (m.is_active === active) return { state: presence(m), revoked: [] as string[] };
      await logStatus(tx, mitraId, active ? "activated" : "deactivated", now);
      const updated = await setPresence(
        tx,
        mitraId,
        active ? "is_active = true" : "is_active = false, is_online = false",
        now,
      );
      return {
        state: updated,
        revoked: active ? [] : await revokeUserSessions(tx, "mitra", mitraId, "deactivated", now),
      };
    });
    // Before anything else answers: every process's heartbeat guard reads its in-memory copy.
    await this.d.deactivated.announce(mitraId, state.active);
    await this.d.mirror.applyStatuses([state]);
    await this.d.auth.announceRevoked(revoked);
    if (!active) await this.d.events.unavailable([mitraId]);
  }
}

interface PresenceRow {
  id: string;
  is_online: boolean;
  is_active: boolean;
  verified_at: Date | null;
  status_version: string;
}

/** The columns a presence state is read from (what the versioned mirror write needs). */
export type PresenceColumns = Pick<PresenceRow, "id" | "is_online" | "is_active" | "status_version">;

export const presence = (r: PresenceColumns): PresenceState => ({
  mitraId: r.id,
  version: r.status_version,
  online: r.is_online,
  active: r.is_active,
});

async function lockMitra(tx: PoolClient, mitraId: string): Promise<PresenceRow> {
  const { rows } = await tx.query<PresenceRow>(
    "SELECT id, is_online, is_active, verified_at, status_version FROM mitras WHERE id = $1 FOR UPDATE",
    [mitraId],
  );
  if (!rows[0]) throw notFound("No such mitra");
  return rows[0];
}

/** Applies a presence change and takes the next status version (`$2` is now). */
async function setPresence(
  tx: PoolClient,
  mitraId: string,
  assignments: string,
  now: Date,
): Promise<PresenceState> {
  const { rows } = await tx.query<PresenceRow>(
    `UPDATE mitras SET ${assignments}, updated_at = $2, status_version = nextval('mitra_status_version_seq')
     WHERE id = $1 RETURNING id, is_online, is_active, verified_at, status_version`,
    [mitraId, now],
  );
  return presence(rows[0] as PresenceRow);
}

export async function logStatus(
  tx: PoolClient,
  mitraId: string,
  status: StatusLogEntry,
  at: Date,
): Promise<void> {
  await logStatuses(tx, [mitraId], status, at);
}

/** One status-log row per mitra, in one statement (the auto-offline sweep logs thousands at once). */
export async function logStatuses(
  tx: PoolClient,
  mitraIds: readonly string[],
  status: StatusLogEntry,
  at: Date,
): Promise<void> {
  if (mitraIds.length === 0) return;
  await tx.query(
    "INSERT INTO mitra_status_log (mitra_id, status, at) SELECT id, $2, $3 FROM UNNEST($1::uuid[]) AS t(id)",
    [mitraIds, status, at],
  );
}
