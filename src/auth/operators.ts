import type { Clock } from "../clock.js";
import { type Pool, withTransaction } from "../db/pool.js";
import { AppError, notFound } from "../errors.js";
import type { Logger } from "../log.js";
import type { MailDispatcher } from "../mail/mail-dispatcher.js";
import { unauthenticated } from "./access-token.js";
import type { AuthService, TokenPair } from "./auth-service.js";
import { revokeSessions, revokeUserSessions, type SessionMeta } from "./auth-sessions.js";
import { voidLinks } from "./link-tokens.js";
import { type LoginLockout, lockoutKey } from "./login-lockout.js";
import type { OperatorLinks } from "./operator-links.js";
import {
  findOperatorByEmail,
  findOperatorById,
  insertOperator,
  listOperators,
  type OperatorRole,
  type OperatorRow,
  requireAdmin,
  setOperatorPassword,
  setOperatorRole,
} from "./operator-store.js";
import { assertPasswordPolicy, invalidCredentials } from "./password-errors.js";
import type { PasswordHasher } from "./password-hasher.js";
import type { TokenCrypto } from "./token-crypto.js";
import type { Principal } from "./user-types.js";
import { operatorView, type UserView } from "./users.js";

export interface OperatorsDeps {
  pool: Pool;
  auth: AuthService;
  crypto: TokenCrypto;
  hasher: PasswordHasher;
  lockout: LoginLockout;
  links: OperatorLinks;
  mail: MailDispatcher;
  log: Logger;
  now: Clock;
}

/**
 * Control-center operators (contract §2): password login with lockout,
 * accounts created or invited by an admin, password changes. Transport-free:
 * the HTTP routes only translate bodies, cookies and answers.
 */
export class Operators {
  constructor(private readonly d: OperatorsDeps) {}

  /**
   * Every refused attempt costs one bcrypt comparison and one counted failure,
   * whether the email is unknown, the password wrong or not chosen yet, so
   * neither the answer nor its timing tells them apart.
   */
  async login(email: string, password: string, meta: SessionMeta): Promise<TokenPair> {
    const now = this.d.now();
    const key = lockoutKey(email);
    await this.d.lockout.assertNotLocked(this.d.pool, key, now);
    const row = await findOperatorByEmail(this.d.pool, key);
    const matches = await this.d.hasher.verify(password, row?.password_hash ?? null);
    if (!matches) {
      const locked = await this.d.lockout.recordFailure(this.d.pool, key, now);
      const reason = !row ? "unknown email" : row.password_hash ? "wrong password" : "no password yet";
      this.d.log.info({ email: key, reason, locked: locked !== null }, "operator login refused");
      throw locked ?? invalidCredentials();
    }
    const operator = row as OperatorRow;
    if (operator.status === "disabled") {
      throw new AppError("ACCOUNT_INACTIVE", 403, "This account is deactivated");
    }
    const { pair } = await withTransaction(this.d.pool, async (tx) => {
      await this.d.lockout.clearAfterSuccess(tx, key, now);
      return this.d.auth.signIn(tx, operatorView(operator), meta);
    });
    return pair;
  }

  /** The signed-in operator (GET /internal/auth/me). */
  async me(principal: Principal): Promise<UserView> {
    return operatorView(await this.self(principal));
  }

  /** Ends one auth session (logout); a no-op when it is already revoked. */
  async endSession(sid: string): Promise<void> {
    await this.d.auth.announceRevoked(await revokeSessions(this.d.pool, [sid], "logout", this.d.now()));
  }

  /** The operator session a refresh token belongs to, or null (logout by cookie alone). */
  async sessionOfRefreshToken(token: string): Promise<string | null> {
    if (!this.d.crypto.isWellFormed(token)) return null;
    const { rows } = await this.d.pool.query<{ session_id: string }>(
      `SELECT rt.session_id FROM refresh_tokens rt JOIN auth_sessions s ON s.id = rt.session_id
       WHERE rt.token_hash = $1 AND s.user_type = 'cc'`,
      [this.d.crypto.hash(token)],
    );
    return rows[0]?.session_id ?? null;
  }

  /**
   * Admin only. With a password the operator is active at once; without one
   * they are invited (contract §9) and the link is mailed after the commit.
   */
  async create(
    principal: Principal,
    input: { email: string; role: OperatorRole; password?: string | undefined },
  ): Promise<UserView> {
    await this.requireAdmin(principal);
    const now = this.d.now();
    if (input.password !== undefined) {
      assertPasswordPolicy(input.password, "password");
      // Spares a 230 ms hash for the common duplicate; the insert still decides under a race.
      if (await findOperatorByEmail(this.d.pool, input.email)) throw emailTaken();
      const passwordHash = await this.d.hasher.hash(input.password);
      const row = await insertOperator(this.d.pool, {
        email: input.email,
        role: input.role,
        passwordHash,
        now,
      });
      if (!row) throw emailTaken();
      return operatorView(row);
    }
    const { row, mail } = await withTransaction(this.d.pool, async (tx) => {
      const row = await insertOperator(tx, { email: input.email, role: input.role, passwordHash: null, now });
      if (!row) throw emailTaken();
      return { row, mail: await this.d.links.issueInvite(tx, row) };
    });
    this.d.mail.dispatch(mail);
    return operatorView(row);
  }

  /** The operator's own change: the current session stays, every other one ends. */
  async changeOwnPassword(principal: Principal, currentPassword: string, newPassword: string): Promise<void> {
    const me = await this.self(principal);
    assertPasswordPolicy(newPassword, "newPassword");
    if (!(await this.d.hasher.verify(currentPassword, me.password_hash))) {
      this.d.log.info({ operatorId: me.id }, "password change refused: wrong current password");
      throw invalidCredentials();
    }
    await this.setPassword(me.id, await this.d.hasher.hash(newPassword), principal.sid);
  }

  /** An admin's forced reset: every session of that operator ends, and any lockout is lifted. */
  async forceReset(principal: Principal, targetId: string, newPassword: string): Promise<void> {
    await this.requireAdmin(principal);
    if (!(await findOperatorById(this.d.pool, targetId))) throw notFound("No such operator");
    assertPasswordPolicy(newPassword, "newPassword");
    await this.setPassword(targetId, await this.d.hasher.hash(newPassword));
  }

  /** Admin only: every operator account. */
  async list(principal: Principal): Promise<{ items: UserView[] }> {
    await this.requireAdmin(principal);
    return { items: (await listOperators(this.d.pool)).map(operatorView) };
  }

  /**
   * Admin only: another operator's role. An admin cannot demote themself, so
   * the control center never loses its last admin by accident.
   */
  async setRole(principal: Principal, targetId: string, role: OperatorRole): Promise<UserView> {
    await this.requireAdmin(principal);
    if (targetId === principal.userId && role !== "admin")
      throw new AppError("FORBIDDEN", 403, "An admin cannot remove their own admin role");
    const row = await setOperatorRole(this.d.pool, targetId, role, this.d.now());
    if (!row) throw notFound("No such operator");
    return operatorView(row);
  }

  requireAdmin(principal: Principal): Promise<OperatorRow> {
    return requireAdmin(this.d.pool, principal);
  }

  private async self(principal: Principal): Promise<OperatorRow> {
    const me = await findOperatorById(this.d.pool, principal.userId);
    if (!me) throw unauthenticated("This operator no longer exists");
    return me;
  }

  /**
   * Password, pending links and sessions change in one transaction; the
   * revocations are announced to every process after the commit.
   */
  private async setPassword(userId: string, passwordHash: string, keepSid?: string): Promise<void> {
    const now = this.d.now();
    const revoked = await withTransaction(this.d.pool, async (tx) => {
      const row = await setOperatorPassword(tx, userId, passwordHash, now);
      if (!row) throw notFound("No such operator");
      await voidLinks(tx, userId, now);
      await this.d.lockout.clear(tx, lockoutKey(row.email));
      const reason = keepSid ? "password_change" : "password_forced_reset";
      return revokeUserSessions(tx, "cc", userId, reason, now, keepSid);
    });
    await this.d.auth.announceRevoked(revoked);
  }
}

const emailTaken = (): AppError =>
  new AppError("EMAIL_TAKEN", 409, "An operator with this email already exists");
