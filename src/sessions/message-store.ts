import type { Queryable } from "../db/pool.js";

/** A `chat_messages` row as this module reads it (`seq` is bigint: a string). */
export interface MessageRow {
  id: string;
  session_id: string;
  sender_type: "customer" | "mitra";
  sender_id: string;
  client_msg_id: string;
  text: string;
  seq: string;
  created_at: Date;
}

/** A message as clients see it (contract §5). */
export type MessageView = {
  id: string;
  sessionId: string;
  senderType: "customer" | "mitra";
  senderId: string;
  clientMsgId: string;
  text: string;
  createdAt: string;
};

const COLUMNS = "id, session_id, sender_type, sender_id, client_msg_id, text, seq, created_at";

export function messageView(r: MessageRow): MessageView {
  return {
    id: r.id,
    sessionId: r.session_id,
    senderType: r.sender_type,
    senderId: r.sender_id,
    clientMsgId: r.client_msg_id,
    text: r.text,
    createdAt: r.created_at.toISOString(),
  };
}

/** A message to store: its sender and its idempotency key. */
export interface NewMessage {
  sessionId: string;
  senderType: "customer" | "mitra";
  senderId: string;
  clientMsgId: string;
  text: string;
}

export type StoredMessage = MessageRow & { recipient_id: string };

/**
 * Stores messages whose sender is a party of the session, the session active
 * and not past its expiry, in one statement (a tick's messages of every
 * session at once); returns the rows stored, each with the other party.
 * A message not returned was not stored (not allowed, or its clientMsgId was
 * stored before, or repeated earlier in the same call).
 *
 * The session rows are locked (FOR NO KEY UPDATE, in id order so two calls
 * never deadlock) until the insert commits, so the messages of one session
 * take their `seq` in commit order — a reader catching up with `after=` can
 * never skip one committed late under a lower seq — and an ending waits for a
 * message being stored (or refuses it). Within a call, seq follows the order
 * of `messages`. A named statement: parsed and planned once per connection.
 */
export async function insertMessages(
  db: Queryable,
  messages: readonly NewMessage[],
  now: Date,
): Promise<StoredMessage[]> {
  const { rows } = await db.query<StoredMessage>({
    name: "chat-insert-messages",
    text: `WITH input AS (
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[])
         WITH ORDINALITY AS t(session_id, sender_type, sender_id, client_msg_id, text, ord)
     ), s AS (
       SELECT id, customer_id, mitra_id FROM chat_sessions
       WHERE id IN (SELECT session_id FROM input) AND status = 'active'
         AND coalesce(expires_at > $6::timestamptz, true)
       ORDER BY id
       FOR NO KEY UPDATE
     ), ins AS (
       INSERT INTO chat_messages (session_id, sender_type, sender_id, client_msg_id, text, created_at)
       SELECT i.session_id, i.sender_type, i.sender_id, i.client_msg_id, i.text, $6::timestamptz
       FROM input i JOIN s ON s.id = i.session_id
         AND i.sender_id = CASE i.sender_type WHEN 'customer' THEN s.customer_id ELSE s.mitra_id END
       ORDER BY i.ord
       ON CONFLICT (session_id, sender_id, client_msg_id) DO NOTHING
       RETURNING ${COLUMNS}
     )
     SELECT ins.*, CASE ins.sender_type WHEN 'customer' THEN s.mitra_id ELSE s.customer_id END AS recipient_id
     FROM ins JOIN s ON s.id = ins.session_id`,
    values: [
      messages.map((m) => m.sessionId),
      messages.map((m) => m.senderType),
      messages.map((m) => m.senderId),
      messages.map((m) => m.clientMsgId),
      messages.map((m) => m.text),
      now,
    ],
  });
  return rows;
}

/** One message: {@link insertMessages} for a single one; undefined when it was not stored. */
export async function insertMessage(
  db: Queryable,
  m: NewMessage,
  now: Date,
): Promise<StoredMessage | undefined> {
  return (await insertMessages(db, [m], now))[0];
}

/** The key a message is stored under (its idempotency key): one slot per key in a batch. */
export const messageKey = (sessionId: string, senderId: string, clientMsgId: string): string =>
  `${sessionId} ${senderId} ${clientMsgId}`;

/** The message a sender stored earlier under this clientMsgId, if any. */
export async function findByClientMsgId(
  db: Queryable,
  sessionId: string,
  senderId: string,
  clientMsgId: string,
): Promise<MessageRow | undefined> {
  const { rows } = await db.query<MessageRow>(
    `SELECT ${COLUMNS} FROM chat_messages WHERE session_id = $1 AND sender_id = $2 AND client_msg_id = $3`,
    [sessionId, senderId, clientMsgId],
  );
  return rows[0];
}

/** The seq of a message of this session, or undefined (unknown id, or another session's). */
export async function seqOf(
  db: Queryable,
  sessionId: string,
  messageId: string,
): Promise<string | undefined> {
  const { rows } = await db.query<{ seq: string }>(
    "SELECT seq FROM chat_messages WHERE id = $1 AND session_id = $2",
    [messageId, sessionId],
  );
  return rows[0]?.seq;
}

/** Up to `limit` messages after `afterSeq` (all when null), oldest first. */
export async function messagesAfter(
  db: Queryable,
  sessionId: string,
  afterSeq: string | null,
  limit: number,
): Promise<MessageRow[]> {
  const { rows } = await db.query<MessageRow>(
    `SELECT ${COLUMNS} FROM chat_messages WHERE session_id = $1 AND seq > $2::bigint ORDER BY seq LIMIT $3`,
    [sessionId, afterSeq ?? "0", limit],
  );
  return rows;
}
