import { Emitter } from "./emitter.js";
import { HaloError } from "./errors.js";
import { Outbox, type OutgoingMessage } from "./outbox.js";
import type { ChatMessage } from "./protocol.js";
import type { SessionsApi } from "./sessions.js";
import type { HaloSocket } from "./socket.js";

export interface ConversationOptions {
  /** Resume after this message (the last one the app already has); default: from the first message. */
  after?: string | null;
  /** Messages per catch-up page (1–200, default 200). */
  pageSize?: number;
  /** How long one `chat.send` waits for its ack before it is sent again (default 10 s). */
  sendTimeoutMs?: number;
}

export interface ConversationEvents {
  /** The next message of the session, in the gateway's order, each exactly once (both parties' messages). */
  message: ChatMessage;
  /** A catch-up read failed; it is retried (on the next frame, reconnect, or after a pause). */
  error: HaloError;
}

/**
 * One chat session's conversation: an outbox for what this user sends and a
 * timeline of everything said, in the gateway's order, each message once.
 *
 * The gateway's message log (`GET …/messages?after=`) is the timeline's only
 * source. `chat.message` frames, acks of our own messages and every
 * reconnect only ring the bell: the conversation then reads the log after
 * the last message it has. A frame lost while the socket was down, or two
 * messages whose frames crossed, cannot put the timeline out of order or
 * show a message twice — the price is one read per burst of messages.
 */
export class Conversation extends Emitter<ConversationEvents> {
  private cursor: string | null;
  private readonly seen = new Set<string>();
  private readonly timeline: ChatMessage[] = [];
  private readonly outbox: Outbox;
  private readonly pageSize: number;
  private reading: Promise<void> | null = null;
  private again = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private closed = false;
  private readonly offs: (() => void)[];

  constructor(
    socket: HaloSocket,
    private readonly sessions: SessionsApi,
    readonly sessionId: string,
    opts: ConversationOptions = {},
  ) {
    super();
    this.cursor = opts.after ?? null;
    this.pageSize = opts.pageSize ?? 200;
    this.outbox = new Outbox(socket, sessionId, () => void this.catchUp(), opts.sendTimeoutMs);
    this.offs = [
      socket.on("chat.message", (f) => {
        if (f.message.sessionId === sessionId) void this.catchUp();
      }),
      socket.on("hello", () => void this.catchUp()),
    ];
    void this.catchUp();
  }

  /** Sends a message (queued while offline); resolves with it as stored once acknowledged. */
  send(text: string, opts: { clientMsgId?: string } = {}): Promise<ChatMessage> {
    return this.outbox.send(text, opts.clientMsgId);
  }

  /** Messages sent but not acknowledged yet. */
  pending(): OutgoingMessage[] {
    return this.outbox.pending();
  }

  /** Every message seen so far, in order. */
  get messages(): readonly ChatMessage[] {
    return this.timeline;
  }

  /** close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The id of the last message in the timeline (store it to resume with `after`). */
  get lastMessageId(): string | null {
    return this.cursor;
  }

  /**
   * Reads the log after the last message we have, page by page, until the
   * end. Calls while a read runs are folded into one more read after it.
   */
  catchUp(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    const run = this.readLog().finally(() => {
      this.reading = null;
    });
    this.reading = run;
    return run;
  }

  private async readLog(): Promise<void> {
    do {
      this.again = false;
      try {
        for (;;) {
          const page = await this.sessions.messages(this.sessionId, {
            after: this.cursor,
            limit: this.pageSize,
          });
          if (this.closed) return;
          for (const m of page.items) this.append(m);
          if (page.nextCursor === null) break;
        }
        this.failures = 0;
      } catch (err) {
        if (this.closed) return;
        this.emit("error", err instanceof HaloError ? err : new HaloError("NETWORK_ERROR", String(err)));
        this.retryLater();
        return;
      }
    } while (this.again && !this.closed);
  }

  private append(m: ChatMessage): void {
    this.cursor = m.id;
    if (this.seen.has(m.id)) return;
    this.seen.add(m.id);
    this.timeline.push(m);
    this.emit("message", m);
  }

  private retryLater(): void {
    if (this.retryTimer) return;
    const delay = Math.min(10_000, 500 * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.catchUp();
    }, delay);
  }

  /** Stops listening; unsent messages fail with SOCKET_CLOSED. */
  close(): void {
    this.closed = true;
    for (const off of this.offs) off();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.outbox.close();
  }
}
