import type { AppConfigStore } from "../app-config/app-config-store.js";
import type { Clock } from "../clock.js";
import { type Pool, type Queryable, withTransaction } from "../db/pool.js";
import { AppError } from "../errors.js";
import type { Logger } from "../log.js";
import type { MailDispatcher } from "../mail/mail-dispatcher.js";
import type { OutgoingMail } from "../mail/mail-provider.js";
import type { AuthService, TokenPair } from "./auth-service.js";
import type { SessionMeta } from "./auth-sessions.js";
import { revokeUserSessions } from "./auth-sessions.js";
import {
  countLinksSince,
  findLink,
  type LinkKind,
  type LinkRow,
  markLinkUsed,
  storeLink,
} from "./link-tokens.js";
import { type LoginLockout, lockoutKey } from "./login-lockout.js";
import { normaliseEmail, setOperatorPassword } from "./operator-store.js";
import { assertPasswordPolicy } from "./password-errors.js";
import type { PasswordHasher } from "./password-hasher.js";
import type { TokenCrypto } from "./token-crypto.js";
import { operatorView } from "./users.js";

/** Contract §9: at most this many reset links per email per hour. */
export const RESET_LINKS_PER_HOUR = 3;

export interface OperatorLinksDeps {
  pool: Pool;
  crypto: TokenCrypto;
  auth: AuthService;
  hasher: PasswordHasher;
  lockout: LoginLockout;
  appConfig: Pick<AppConfigStore, "get">;
  mail: MailDispatcher;
  /** Base of the links, without a trailing slash; read at send time (the internal port may be picked at listen). */
  ccPublicUrl: () => string;
  log: Logger;
  now: Clock;
}

/**
 * One-time links that sign an operator in (contract §9): an invitation, or a
 * password reset. Choosing a password on the link establishes the session at
 * once. The token's consumption, the password, and the new auth session
 * commit together, so any failure before that commit leaves the link usable.
 */
export class OperatorLinks {
  constructor(private readonly d: OperatorLinksDeps) {}

  /**
   * Issues an invitation inside the caller's transaction (the operator's
   * creation); returns the mail to dispatch once that transaction commits.
   */
  async issueInvite(tx: Queryable, user: { id: string; email: string }): Promise<OutgoingMail> {
    const now = this.d.now();
    const { cc_invite_ttl_hours } = await this.d.appConfig.get();
    const token = await this.issue(
      tx,
      user.id,
      "invite",
      new Date(now.getTime() + cc_invite_ttl_hours * 3_600_000),
    );
    return {
      to: user.email,
      kind: "invite",
      subject: "You are invited to the control center",
      text: `Open this link within ${cc_invite_ttl_hours} hours to choose your password and sign in.`,
      link: `${this.d.ccPublicUrl()}/accept-invite?token=${token}`,
    };
  }

  /**
   * Sends a reset link when `email` belongs to an active operator who has had
   * fewer than 3 in the last hour. Every case looks the same to the caller
   * (202, the same statements, the mail sent after the response).
   */
  async requestReset(email: string): Promise<void> {
    const now = this.d.now();
    const { cc_reset_ttl_minutes } = await this.d.appConfig.get();
    const key = normaliseEmail(email);
    const mail = await withTransaction(this.d.pool, async (tx) => {
      // The row lock serialises concurrent requests for one operator, so the hourly cap holds.
      const { rows } = await tx.query<{ id: string; email: string; status: string }>(
        "SELECT id, email, status FROM control_center_users WHERE lower(email) = $1 FOR UPDATE",
        [key],
      );
      const user = rows[0];
      // Counted for unknown emails too (it finds nothing), so both paths run the same statements.
      const recent = await countLinksSince(
        tx,
        user?.id ?? null,
        "reset",
        new Date(now.getTime() - 3_600_000),
      );
      if (user?.status !== "active") {
        this.d.log.info(
          { email: key, reason: user ? `status ${user.status}` : "unknown email" },
          "no reset link sent",
        );
        return null;
      }
      if (recent >= RESET_LINKS_PER_HOUR) {
        this.d.log.info({ email: key, reason: "hourly limit" }, "no reset link sent");
        return null;
      }
      const expires = new Date(now.getTime() + cc_reset_ttl_minutes * 60_000);
      const token = await this.issue(tx, user.id, "reset", expires);
      return {
        to: user.email,
        kind: "reset" as const,
        subject: "Reset your control center password",
        text: `Open this link within ${cc_reset_ttl_minutes} minutes to choose a new password and sign in.`,
        link: `${this.d.ccPublicUrl()}/reset-password?token=${token}`,
      };
    });
    if (mail) this.d.mail.dispatch(mail);
  }

  /** POST /internal/auth/accept-invite: sets the first password and signs in. */
  acceptInvite(token: string, password: string, meta: SessionMeta): Promise<TokenPair> {
    return this.consume("invite", token, password, "password", meta);
  }

  /** POST /internal/auth/password-reset/confirm: sets a new password, signs in, ends every other session. */
  confirmReset(token: string, newPassword: string, meta: SessionMeta): Promise<TokenPair> {
    return this.consume("reset", token, newPassword, "newPassword", meta);
  }

  private async issue(tx: Queryable, userId: string, kind: LinkKind, expiresAt: Date): Promise<string> {
    const token = this.d.crypto.newToken();
    await storeLink(tx, { userId, kind, tokenHash: this.d.crypto.hash(token), expiresAt, now: this.d.now() });
    return token;
  }

  private async consume(
    kind: LinkKind,
    token: string,
    password: string,
    field: string,
    meta: SessionMeta,
  ): Promise<TokenPair> {
    const now = this.d.now();
    if (!this.d.crypto.isWellFormed(token)) throw linkInvalid();
    const tokenHash = this.d.crypto.hash(token);

    // Checked before hashing too: a dead link costs no bcrypt time and names its own error first.
    assertUsable(await findLink(this.d.pool, tokenHash, kind, false), kind, now);
    assertPasswordPolicy(password, field);
    const passwordHash = await this.d.hasher.hash(password);

    const { pair, revoked } = await withTransaction(this.d.pool, async (tx) => {
      const link = assertUsable(await findLink(tx, tokenHash, kind, true), kind, now);
      await markLinkUsed(tx, link.id, now);
      const row = await setOperatorPassword(tx, link.user_id, passwordHash, now);
      if (!row) throw linkInvalid();
      // Whoever held the old password (or a stolen session) is signed out; the new session comes after.
      const revoked = await revokeUserSessions(tx, "cc", row.id, `password_${kind}`, now);
      await this.d.lockout.clear(tx, lockoutKey(row.email));
      const { pair } = await this.d.auth.signIn(tx, operatorView(row), meta);
      return { pair, revoked };
    });
    await this.d.auth.announceRevoked(revoked);
    return pair;
  }
}

/** The contract's link errors, in the order a user can act on them. */
function assertUsable(link: LinkRow | null, kind: LinkKind, now: Date): LinkRow {
  if (!link) throw linkInvalid();
  if (link.used_at) throw new AppError("LINK_USED", 409, "This link was already used");
  if (link.voided_at) throw linkInvalid();
  if (link.expires_at.getTime() <= now.getTime())
    throw new AppError("LINK_EXPIRED", 410, "This link has expired");
  if (link.user_status === "disabled")
    throw new AppError("ACCOUNT_INACTIVE", 403, "This account is deactivated");
  // An invitation only makes sense while the account has no password yet.
  if (kind === "invite" && link.user_status !== "invited") throw linkInvalid();
  return link;
}

/** Unknown and voided links share one code on purpose (style.md, Errors). */
const linkInvalid = (): AppError => new AppError("LINK_INVALID", 401, "This link is not valid");
