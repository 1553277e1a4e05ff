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

/**
 * Stores a message if its sender is a party of the session and the session
 * is active and not past its expiry, in one statement; undefined when it was
 * not stored (not allowed, or this clientMsgId was stored before).
 *
 * The session row is locked (FOR NO KEY UPDATE) until the insert commits, so
 * the messages of one session take their `seq` in commit order — a reader
 * catching up with `after=` can never skip one committed late under a lower
 * seq — and an ending waits for a message being stored (or refuses it).
 */
export async function insertMessage(
  db: Queryable,
  m: {
    sessionId: string;
    senderType: "customer" | "mitra";
    senderId: string;
    clientMsgId: string;
    text: string;
  },
  now: Date,
): Promise<(MessageRow & { recipient_id: string }) | undefined> {
  const party = m.senderType === "customer" ? "customer_id" : "mitra_id";
  const other = m.senderType === "customer" ? "mitra_id" : "customer_id";
  // One statement: the session row is checked and locked (so seq follows commit order), the
  // message inserted, and the recipient returned for delivery — no second round trip.
  const { rows } = await db.query<MessageRow & { recipient_id: string }>(
    `WITH s AS (
       SELECT id, ${other} AS recipient_id FROM chat_sessions
       WHERE id = $1 AND ${party} = $3::uuid AND status = 'active'
         AND coalesce(expires_at > $6::timestamptz, true)
       FOR NO KEY UPDATE
     ), ins AS (
       INSERT INTO chat_messages (session_id, sender_type, sender_id, client_msg_id, text, created_at)
       SELECT s.id, $2::text, $3::uuid, $4::text, $5::text, $6::timestamptz FROM s
       ON CONFLICT (session_id, sender_id, client_msg_id) DO NOTHING
       RETURNING ${COLUMNS}
     )
     SELECT ins.*, s.recipient_id FROM ins, s`,
    [m.sessionId, m.senderType, m.senderId, m.clientMsgId, m.text, now],
  );
  return rows[0];
}

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
