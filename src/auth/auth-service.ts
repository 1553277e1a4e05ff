import type { Clock } from "../clock.js";
import type { Pool, Queryable } from "../db/pool.js";
import { withTransaction } from "../db/pool.js";
import { AppError } from "../errors.js";
import { type AccessTokens, unauthenticated } from "./access-token.js";
import { createAnonymousCustomer } from "./anonymous.js";
import { createAuthSession, revokeSessions, revokeUserSessions, type SessionMeta } from "./auth-sessions.js";
import { customerForIdentity, type ProvenIdentity } from "./customer-identity.js";
import { type RotationPolicy, rotateRefreshToken, storeRefreshToken } from "./refresh-rotation.js";
import type { Revocations } from "./revocation.js";
import type { TokenCrypto } from "./token-crypto.js";
import type { Principal, UserType } from "./user-types.js";
import { loadUser, type UserView } from "./users.js";

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: UserView;
}

export interface AuthServiceDeps {
  pool: Pool;
  crypto: TokenCrypto;
  access: AccessTokens;
  revocations: Revocations;
  rotation: RotationPolicy;
  now: Clock;
}

/**
 * Token pairs, refresh, logout and the per-request check — the core both
 * doors (HTTP and WebSocket) call. Sign-in flows (anonymous, OTP, social,
 * operators) prove who the user is, then call `signIn`.
 */
export class AuthService {
  constructor(private readonly d: AuthServiceDeps) {}

  get now(): Clock {
    return this.d.now;
  }

  /** Starts a new auth session for a proven user, inside the caller's transaction. */
  async signIn(
    tx: Queryable,
    user: UserView,
    meta: SessionMeta = {},
  ): Promise<{ pair: TokenPair; sid: string }> {
    const now = this.d.now();
    const sid = await createAuthSession(tx, user.type, user.id, now, meta);
    const refreshToken = this.d.crypto.newToken();
    await storeRefreshToken(tx, this.d.crypto, sid, refreshToken, now, this.d.rotation.ttlDays);
    const { token } = this.d.access.sign({ userId: user.id, userType: user.type, sid }, now);
    return { sid, pair: { accessToken: token, refreshToken, expiresIn: this.d.access.ttlSeconds, user } };
  }

  /** A new anonymous customer and its first auth session: one unit of work. */
  signInAnonymous(
    displayName: string | null,
    meta: SessionMeta = {},
  ): Promise<{ pair: TokenPair; sid: string }> {
    return withTransaction(this.d.pool, async (tx) =>
      this.signIn(tx, await createAnonymousCustomer(tx, displayName, this.d.now()), meta),
    );
  }

  /** Signs in (or links, with `linkTo`) the customer a provider-proven identity belongs to: one unit of work. */
  signInWithIdentity(
    identity: ProvenIdentity,
    linkTo: string | null,
    meta: SessionMeta = {},
  ): Promise<{ pair: TokenPair; sid: string }> {
    return withTransaction(this.d.pool, async (tx) =>
      this.signIn(tx, await customerForIdentity(tx, identity, linkTo, this.d.now()), meta),
    );
  }

  /** Verifies a bearer token for a route that accepts `allowed` user types. */
  async authenticate(token: string | undefined, allowed: readonly UserType[]): Promise<Principal> {
    if (!token) throw unauthenticated();
    const principal = this.d.access.verify(token, this.d.now());
    if (!allowed.includes(principal.userType)) {
      throw new AppError("FORBIDDEN", 403, "This token is not accepted on this route");
    }
    if (await this.d.revocations.isRevoked(principal.sid)) {
      throw new AppError("SESSION_REVOKED", 401, "This session was revoked");
    }
    return principal;
  }

  /** One use of a refresh token (contract §2); reuse revokes the session everywhere. */
  async refresh(presented: string, allowed: readonly UserType[]): Promise<TokenPair> {
    const now = this.d.now();
    const result = await withTransaction(this.d.pool, async (tx) => {
      const rotation = await rotateRefreshToken(
        tx,
        this.d.crypto,
        presented,
        allowed,
        this.d.rotation,
        now,
        (type, id) => this.assertActive(tx, type, id),
      );
      if (rotation.kind === "reused") {
        return { rotation, revoked: await revokeSessions(tx, [rotation.sid], "refresh_reused", now) };
      }
      const user = await loadUser(tx, rotation.userType, rotation.userId);
      return { rotation, user, revoked: [] as string[] };
    });
    if (result.rotation.kind === "reused") {
      await this.d.revocations.announce(result.revoked);
      throw new AppError("REFRESH_REUSED", 401, "Refresh token reused: the session is revoked");
    }
    const { sid, userId, userType, refreshToken } = result.rotation;
    const { token } = this.d.access.sign({ userId, userType, sid }, now);
    return {
      accessToken: token,
      refreshToken,
      expiresIn: this.d.access.ttlSeconds,
      user: (result.user as { view: UserView }).view,
    };
  }

  async logout(principal: Principal): Promise<void> {
    await this.revoke(() => revokeSessions(this.d.pool, [principal.sid], "logout", this.d.now()));
  }

  async logoutAll(principal: Principal): Promise<void> {
    await this.revoke(() =>
      revokeUserSessions(this.d.pool, principal.userType, principal.userId, "logout_all", this.d.now()),
    );
  }

  /** Revokes a user's sessions (deactivation, password change, forced reset), except `keepSid`. */
  async revokeUser(userType: UserType, userId: string, reason: string, keepSid?: string): Promise<void> {
    await this.revoke(() => revokeUserSessions(this.d.pool, userType, userId, reason, this.d.now(), keepSid));
  }

  /** Announces sessions a caller revoked inside its own (now committed) transaction. */
  async announceRevoked(sids: string[]): Promise<void> {
    await this.d.revocations.announce(sids);
  }

  private async revoke(inPostgres: () => Promise<string[]>): Promise<void> {
    await this.d.revocations.announce(await inPostgres());
  }

  private async assertActive(db: Queryable, type: UserType, id: string): Promise<void> {
    const user = await loadUser(db, type, id);
    if (!user) throw new AppError("REFRESH_INVALID", 401, "Unknown or malformed refresh token");
    if (!user.isActive) throw new AppError("ACCOUNT_INACTIVE", 403, "This account is deactivated");
  }
}
