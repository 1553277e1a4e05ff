import type { AuthService } from "../auth/auth-service.js";
import { revokeUserSessions } from "../auth/auth-sessions.js";
import type { Clock } from "../clock.js";
import { type Pool, type PoolClient, withTransaction } from "../db/pool.js";
import { AppError, notFound } from "../errors.js";
import type { MitraMirror } from "./mitra-mirror.js";

export type StatusLogEntry = "online" | "offline" | "auto_offline" | "deactivated" | "activated";

export interface MitraStatusDeps {
  pool: Pool;
  mirror: MitraMirror;
  auth: AuthService;
  now: Clock;
  verificationRequired: boolean;
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
    await withTransaction(this.d.pool, async (tx) => {
      const { rows } = await tx.query<{ is_active: boolean; verified_at: Date | null; is_online: boolean }>(
        "SELECT is_active, verified_at, is_online FROM mitras WHERE id = $1 FOR UPDATE",
        [mitraId],
      );
      const m = rows[0];
      if (!m) throw notFound("No such mitra");
      if (!m.is_active) throw accountInactive();
      if (this.d.verificationRequired && !m.verified_at) {
        throw new AppError(
          "VERIFICATION_REQUIRED",
          403,
          "Identity verification is required before going online",
        );
      }
      // Going online records a heartbeat, so a mitra that never pings goes stale later.
      await tx.query(
        "UPDATE mitras SET is_online = true, last_heartbeat_at = $2, updated_at = $2 WHERE id = $1",
        [mitraId, now],
      );
      if (!m.is_online) await logStatus(tx, mitraId, "online", now);
    });
    await this.d.mirror.setOnline(mitraId, now.toISOString());
    return { online: true };
  }

  async goOffline(mitraId: string): Promise<{ online: false }> {
    const now = this.d.now();
    await withTransaction(this.d.pool, async (tx) => {
      const { rowCount } = await tx.query(
        "UPDATE mitras SET is_online = false, updated_at = $2 WHERE id = $1 AND is_online",
        [mitraId, now],
      );
      if (rowCount) await logStatus(tx, mitraId, "offline", now);
    });
    await this.d.mirror.setOffline(mitraId);
    return { online: false };
  }

  /** Deactivation also takes the mitra offline and revokes every auth session (sockets close). */
  async setActive(mitraId: string, active: boolean): Promise<void> {
    const now = this.d.now();
    const revoked = await withTransaction(this.d.pool, async (tx) => {
      const { rowCount } = await tx.query(
        `UPDATE mitras SET is_active = $2, is_online = CASE WHEN $2 THEN is_online ELSE false END, updated_at = $3
         WHERE id = $1 AND is_active <> $2`,
        [mitraId, active, now],
      );
      if (!rowCount) return [];
      await logStatus(tx, mitraId, active ? "activated" : "deactivated", now);
      return active ? [] : revokeUserSessions(tx, "mitra", mitraId, "deactivated", now);
    });
    await this.d.mirror.setActive(mitraId, active);
    await this.d.auth.announceRevoked(revoked);
  }
}

export async function logStatus(
  tx: PoolClient,
  mitraId: string,
  status: StatusLogEntry,
  at: Date,
): Promise<void> {
  await tx.query("INSERT INTO mitra_status_log (mitra_id, status, at) VALUES ($1, $2, $3)", [
    mitraId,
    status,
    at,
  ]);
}
