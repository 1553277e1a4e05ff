import { z } from "zod";
import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import { issuesFromZod, notFound, validationFailed } from "../errors.js";
import type { Notifier } from "../events/notifier.js";
import { MESSAGE_PAGE } from "../protocol/index.js";
import { TickBatch } from "../tick-batch.js";
import {
  findByClientMsgId,
  insertMessages,
  type MessageView,
  messageKey,
  messagesAfter,
  messageView,
  type NewMessage,
  type StoredMessage,
  seqOf,
} from "./message-store.js";
import { isUuid } from "./session-store.js";
import { type Caller, type Sessions, sessionState } from "./sessions.js";

export interface ChatDeps {
  pool: Pool;
  now: Clock;
  notifier: Notifier;
  sessions: Sessions;
}

/** Postgres text cannot hold NUL: refused as bad input, never a driver error. */
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((v) => !v.includes("\u0000"), { message: "Must not contain a NUL character" });

const sendInput = z.object({ sessionId: z.string(), clientMsgId: text(128), text: text(4000) });
export type SendInput = z.infer<typeof sendInput>;

export { MESSAGE_PAGE };

export interface MessagePage {
  items: MessageView[];
  /** The last item's id when more messages follow, else null. */
  nextCursor: string | null;
}

/**
 * Chat within a session (contract §5). A message is stored in Postgres
 * before it is delivered; its `clientMsgId` is its idempotency key, so a
 * retry returns the first message and stores nothing new.
 */
export class Chat {
  /**
   * A tick's messages, of every session, go to Postgres in one statement
   * (group commit: while 4 statements run, new messages wait and go
   * together), and each stored one is pushed to its recipient once.
   */
  private readonly store = new TickBatch<string, StoredMessage | undefined, NewMessage>(
    (keys, messages) => this.storeAndDeliver(keys, messages),
    { maxInFlight: 4, maxBatch: 200 },
  );

  constructor(private readonly d: ChatDeps) {}

  async send(caller: Caller, input: SendInput): Promise<{ message: MessageView }> {
    const parsed = sendInput.safeParse(input);
    if (!parsed.success) throw validationFailed(issuesFromZod(parsed.error.issues));
    const m = parsed.data;
    const sender = caller.userType;
    if (!isUuid(m.sessionId) || (sender !== "customer" && sender !== "mitra"))
      throw notFound("No such session");
    for (let attempt = 0; attempt < 2; attempt++) {
      const msg: NewMessage = { ...m, senderType: sender, senderId: caller.userId };
      const stored = await this.store.get(messageKey(msg.sessionId, msg.senderId, msg.clientMsgId), msg);
      if (stored) return { message: messageView(stored) };
      // A retry of a message stored before: the first one, even if its text differs or the session has ended since.
      const first = await findByClientMsgId(this.d.pool, m.sessionId, caller.userId, m.clientMsgId);
      if (first) return { message: messageView(first) };
      // Not stored: a stranger (404), or the session is not active (409); its timed ending applies if due.
      const session = await this.d.sessions.get(caller, m.sessionId);
      if (session.status !== "active") throw sessionState(session.status);
    }
    throw sessionState("active");
  }

  private async storeAndDeliver(
    keys: string[],
    messages: NewMessage[],
  ): Promise<(StoredMessage | undefined)[]> {
    const rows = await insertMessages(this.d.pool, messages, this.d.now());
    const byKey = new Map(rows.map((r) => [messageKey(r.session_id, r.sender_id, r.client_msg_id), r]));
    await Promise.all(
      rows.map((r) =>
        this.d.notifier.toUser(r.sender_type === "customer" ? "mitra" : "customer", r.recipient_id, {
          type: "chat.message",
          message: messageView(r),
        }),
      ),
    );
    return keys.map((k) => byKey.get(k));
  }

  /** Messages oldest first, `limit` per page, after the message `after` (catch-up after a reconnect). */
  async list(
    caller: Caller,
    sessionId: string,
    opts: { after?: string; limit?: number },
  ): Promise<MessagePage> {
    const limit = opts.limit ?? MESSAGE_PAGE.default;
    if (!Number.isInteger(limit) || limit < 1 || limit > MESSAGE_PAGE.max) {
      throw validationFailed([{ path: "limit", message: "Must be an integer from 1 to 200" }]);
    }
    await this.d.sessions.get(caller, sessionId);
    let afterSeq: string | null = null;
    if (opts.after !== undefined) {
      const seq = isUuid(opts.after) ? await seqOf(this.d.pool, sessionId, opts.after) : undefined;
      if (seq === undefined) {
        throw validationFailed(
          [{ path: "after", message: "Not a message of this session" }],
          "Unknown cursor",
        );
      }
      afterSeq = seq;
    }
    const rows = await messagesAfter(this.d.pool, sessionId, afterSeq, limit + 1);
    const items = rows.slice(0, limit).map(messageView);
    return { items, nextCursor: rows.length > limit ? (items[items.length - 1]?.id ?? null) : null };
  }
}
