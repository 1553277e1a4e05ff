import type { UserType } from "../auth/user-types.js";
import type { Clock } from "../clock.js";
import { type Pool, withTransaction } from "../db/pool.js";
import { AppError } from "../errors.js";
import type { PushPlatform } from "./push-provider.js";

/** A signed-in device that can be pushed to. */
export interface PushDevice {
  sid: string;
  platform: PushPlatform;
  token: string;
}

/** Two sessions registering one token at once: the loser retries and moves it (rare, bounded). */
const REGISTER_TRIES = 3;

/**
 * The push token of each auth session (contract §11): one per session, a token
 * on one session only. Revocations delete the tokens themselves, in their own
 * statement (src/auth/auth-sessions.ts).
 */
export class DeviceStore {
  constructor(private readonly d: { pool: Pool; now: Clock }) {}

  /** Sets the session's token (replacing its old one); a token held by another session moves here. */
  async register(
    principal: { userType: UserType; userId: string; sid: string },
    platform: PushPlatform,
    token: string,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.registerOnce(principal, platform, token);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== "23505" || attempt >= REGISTER_TRIES) throw err;
      }
    }
  }

  private async registerOnce(
    p: { userType: UserType; userId: string; sid: string },
    platform: PushPlatform,
    token: string,
  ): Promise<void> {
    const now = this.d.now();
    await withTransaction(this.d.pool, async (tx) => {
      // FOR SHARE waits for a revocation of this session in flight and then sees it: a token is not
      // registered for a session revoked a moment before. (A revocation that starts while this holds
      // the lock cannot see the row inserted here; `devicesOf` skips revoked sessions for that case.)
      const live = await tx.query(
        `SELECT 1 FROM auth_sessions
         WHERE id = $1 AND user_type = $2 AND user_id = $3 AND revoked_at IS NULL FOR SHARE`,
        [p.sid, p.userType, p.userId],
      );
      if (live.rowCount === 0) throw new AppError("SESSION_REVOKED", 401, "This session was revoked");
      await tx.query("DELETE FROM push_devices WHERE token = $1 AND auth_session_id <> $2", [token, p.sid]);
      await tx.query(
        `INSERT INTO push_devices (auth_session_id, user_type, user_id, platform, token, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (auth_session_id) DO UPDATE
           SET platform = EXCLUDED.platform, token = EXCLUDED.token, updated_at = EXCLUDED.updated_at`,
        [p.sid, p.userType, p.userId, platform, token, now],
      );
    });
  }

  /** Forgets the token of this session (the app turned pushes off, or signs out). */
  async removeCurrent(sid: string): Promise<void> {
    await this.d.pool.query("DELETE FROM push_devices WHERE auth_session_id = $1", [sid]);
  }

  /**
   * The devices of a user's live sessions: unrevoked, and with a refresh token
   * not yet expired. Revocations already delete tokens; the join keeps a push
   * from a session that a race or a hand edit left behind.
   */
  async devicesOf(userType: UserType, userId: string): Promise<PushDevice[]> {
    const { rows } = await this.d.pool.query<PushDevice>(
      `SELECT d.auth_session_id AS sid, d.platform, d.token
       FROM push_devices d JOIN auth_sessions s ON s.id = d.auth_session_id
       WHERE d.user_type = $1 AND d.user_id = $2 AND s.revoked_at IS NULL
         AND EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id AND r.expires_at > $3)`,
      [userType, userId, this.d.now()],
    );
    return rows;
  }

  /** Deletes a token the provider reports unregistered (the app was uninstalled, the token rotated). */
  async deleteToken(token: string): Promise<void> {
    await this.d.pool.query("DELETE FROM push_devices WHERE token = $1", [token]);
  }
}
