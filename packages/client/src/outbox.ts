import { ClientCode, HaloError } from "./errors.js";
import { newId } from "./ids.js";
import type { ChatMessage } from "./protocol.js";
import { retryDelay } from "./retry.js";
import type { HaloSocket } from "./socket.js";

/** A message the outbox has not had acknowledged yet. */
export interface OutgoingMessage {
  clientMsgId: string;
  text: string;
}

interface Entry extends OutgoingMessage {
  resolve: (m: ChatMessage) => void;
  reject: (e: HaloError) => void;
}

/** Refusals that concern the whole session: nothing queued behind can go either. */
const SESSION_OVER = new Set(["SESSION_STATE", "NOT_FOUND", "FORBIDDEN"]);

/**
 * The messages of one chat session waiting for their ack. Each has a
 * `clientMsgId` made once, when the app sends it; it is re-sent with that
 * id after a lost ack or a reconnect, and the gateway stores it once
 * (contract §5, §7). One frame is in flight at a time, so the gateway stores
 * them in the order the app sent them.
 */
export class Outbox {
  private readonly queue: Entry[] = [];
  private pumping = false;
  private closed = false;
  private readonly offHello: () => void;

  constructor(
    private readonly socket: HaloSocket,
    private readonly sessionId: string,
    private readonly onAcked: (m: ChatMessage) => void,
    private readonly sendTimeoutMs = 10_000,
  ) {
    // A socket that stopped and was started again: resume.
    this.offHello = socket.on("hello", () => void this.pump());
  }

  /** Queues a message; resolves with it as stored, once acknowledged. */
  send(text: string, clientMsgId: string = newId()): Promise<ChatMessage> {
    if (this.closed) return Promise.reject(new HaloError(ClientCode.closed, "The conversation is closed"));
    const done = new Promise<ChatMessage>((resolve, reject) => {
      this.queue.push({ clientMsgId, text, resolve, reject });
    });
    void this.pump();
    return done;
  }

  /** Messages not acknowledged yet, oldest first (an app may persist them and send them again after a restart). */
  pending(): OutgoingMessage[] {
    return this.queue.map(({ clientMsgId, text }) => ({ clientMsgId, text }));
  }

  close(): void {
    this.closed = true;
    this.offHello();
    const left = this.queue.splice(0);
    for (const e of left) e.reject(new HaloError(ClientCode.closed, "The conversation is closed"));
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let attempt = 0; !this.closed; ) {
        const head = this.queue[0];
        if (!head) return;
        try {
          const ack = await this.socket.request(
            "chat.send",
            { sessionId: this.sessionId, clientMsgId: head.clientMsgId, text: head.text },
            { timeoutMs: this.sendTimeoutMs },
          );
          attempt = 0;
          if (this.queue[0] === head) this.queue.shift();
          head.resolve(ack.message);
          this.onAcked(ack.message);
        } catch (err) {
          const e = err instanceof HaloError ? err : new HaloError(ClientCode.network, String(err));
          // Stopped socket: keep everything; the next hello resumes.
          if (e.code === ClientCode.closed) return;
          if (e.retryable) {
            // Lost ack, reconnect, timeout: the same clientMsgId again (the frame waits for the next socket).
            if (e.code === "RATE_LIMITED" || e.code === "DEPENDENCY_UNAVAILABLE" || e.code === "INTERNAL")
              await new Promise((r) => setTimeout(r, retryDelay(e, attempt++)));
            continue;
          }
          const failed = SESSION_OVER.has(e.code) ? this.queue.splice(0) : this.queue.splice(0, 1);
          for (const f of failed) f.reject(e);
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
