import type { HaloAuth } from "./auth.js";
import { newId } from "./ids.js";
import type { ChatSession, MessagePage, PairingState } from "./protocol.js";
import { retrying } from "./retry.js";

/**
 * The chat-session routes (contract §5) for the signed-in customer or mitra.
 * Calls that create or change something carry an Idempotency-Key and are
 * retried with it after a lost answer, so they take effect once.
 */
export class SessionsApi {
  constructor(
    private readonly auth: HaloAuth,
    private readonly retryWithinMs = 30_000,
  ) {}

  private async base(): Promise<string> {
    const user = await this.auth.user();
    return user?.type === "mitra" ? "/api/mitra/sessions" : "/api/client/sessions";
  }

  async get(sessionId: string): Promise<ChatSession> {
    const base = await this.base();
    return (await this.read<{ session: ChatSession }>(`${base}/${encodeURIComponent(sessionId)}`)).session;
  }

  /** The caller's open sessions (`pending_payment` or `active`), newest first. */
  async listOpen(): Promise<ChatSession[]> {
    const base = await this.base();
    return (await this.read<{ items: ChatSession[] }>(base, { open: "true" })).items;
  }

  /** Customers: confirms the (development) payment → `active`. */
  pay(sessionId: string, opts: { idempotencyKey?: string } = {}): Promise<ChatSession> {
    return this.change(
      `/api/client/sessions/${encodeURIComponent(sessionId)}/payment`,
      {},
      opts.idempotencyKey,
    );
  }

  /** Customers: adds 1–120 minutes to an active session. */
  extend(sessionId: string, minutes: number, opts: { idempotencyKey?: string } = {}): Promise<ChatSession> {
    return this.change(
      `/api/client/sessions/${encodeURIComponent(sessionId)}/extend`,
      { minutes },
      opts.idempotencyKey,
    );
  }

  /** Ends the session (either party). */
  async end(sessionId: string): Promise<ChatSession> {
    const base = await this.base();
    const r = await this.auth.call<{ session: ChatSession }>(
      "POST",
      `${base}/${encodeURIComponent(sessionId)}/end`,
      {
        body: {},
      },
    );
    return r.session;
  }

  /** One page of messages after `after` (oldest first). */
  async messages(
    sessionId: string,
    opts: { after?: string | null; limit?: number } = {},
  ): Promise<MessagePage> {
    const base = await this.base();
    return this.read<MessagePage>(`${base}/${encodeURIComponent(sessionId)}/messages`, {
      after: opts.after ?? undefined,
      limit: opts.limit,
    });
  }

  /** Customers: where a pairing request stands (after a reconnect mid-request). */
  pairing(requestId: string): Promise<PairingState> {
    return this.read<PairingState>(`/api/client/pairing/${encodeURIComponent(requestId)}`);
  }

  private read<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    return retrying(() => this.auth.call<T>("GET", path, query ? { query } : {}), {
      withinMs: this.retryWithinMs,
    });
  }

  private async change(path: string, body: unknown, key = newId()): Promise<ChatSession> {
    const r = await retrying(
      () => this.auth.call<{ session: ChatSession }>("POST", path, { body, idempotencyKey: key }),
      { withinMs: this.retryWithinMs },
    );
    return r.session;
  }
}
