import {
  type ChatMessage,
  type ChatSession,
  type Conversation,
  type HaloClient,
  type HaloError,
  MemoryTokenStore,
} from "../../../packages/client/src/node.js";
import { sdkClient, sdkCustomer, sdkMitra, sleep } from "../../support/sdk.js";

export interface GatewayUrls {
  publicUrl: string;
  internalUrl: string;
}

/** One mitra of the load: heartbeats every second, accepts offers, answers each customer message. */
export interface LoadMitra {
  id: string;
  client: HaloClient;
  /** Wall time of the last acknowledged heartbeat. */
  lastAckAt: number;
  /** When the control center was asked to deactivate it (its refusals from then on are expected). */
  deactivationAskedAt: number | null;
  /** When its deactivation was acknowledged by the control center (then its heartbeats must stop being accepted). */
  deactivatedAt: number | null;
  /** Heartbeats acknowledged after deactivatedAt: must stay 0. */
  acceptedAfterDeactivation: number;
  conversations: Map<string, Conversation>;
}

/** A chat session as its customer saw it: the transitions and the messages the gateway acknowledged. */
export interface LoadSession {
  id: string;
  customer: LoadCustomer;
  mitraId: string | null;
  /** The last transition the gateway acknowledged. */
  status: "pending_payment" | "active" | "ended";
  /** Messages acknowledged to either party (id → text). */
  acked: Map<string, ChatMessage>;
  conversation: Conversation;
}

export interface LoadCustomer {
  id: string;
  client: HaloClient;
  /** Wall time of the last operation the gateway answered with success. */
  lastOkAt: number;
  /** What its loop waits for now (said when a loop is stuck). */
  step: string;
}

export interface LoadOptions {
  mitras: number;
  customers: number;
  /** Messages a customer sends per session before ending it. */
  messagesPerSession?: number;
  /** Pause between a customer's messages. */
  messageEveryMs?: number;
}

/**
 * Steady load from the client SDK, as apps make it: mitras heartbeating
 * every second and accepting offers, customers pairing, paying, chatting and
 * ending sessions in a loop. Everything the gateway acknowledged is recorded
 * so that the invariants can be checked afterwards; every failed request is
 * counted by the code the SDK gave it.
 */
export class SteadyLoad {
  readonly mitras: LoadMitra[] = [];
  readonly customers: LoadCustomer[] = [];
  readonly sessions = new Map<string, LoadSession>();
  /** Failed requests, by operation and code. */
  readonly failures = new Map<string, number>();
  /** Connections opened again after the first one (every `hello` after a client's first). */
  reconnects = 0;
  private running = false;
  private readonly loops: Promise<void>[] = [];
  private readonly timers: ReturnType<typeof setInterval>[] = [];

  private constructor(
    private readonly baseUrl: string,
    private readonly signInAt: GatewayUrls,
    private readonly opts: Required<LoadOptions>,
  ) {}

  /**
   * Signs everyone in and connects them through `baseUrl` (nothing runs yet:
   * `start()`). Mitras sign in by phone code at one process (`signInAt`: the
   * test route that reveals the code answers for the process that sent it),
   * then use the balancer like every other client.
   */
  static async prepare(baseUrl: string, signInAt: GatewayUrls, opts: LoadOptions): Promise<SteadyLoad> {
    const load = new SteadyLoad(baseUrl, signInAt, {
      messagesPerSession: 8,
      messageEveryMs: 400,
      ...opts,
    });
    await inBatches(opts.mitras, 20, () => load.addMitra());
    await inBatches(opts.customers, 20, () => load.addCustomer());
    return load;
  }

  get failedRequests(): number {
    let n = 0;
    for (const v of this.failures.values()) n += v;
    return n;
  }

  /** Mitras that should be online: every one not deactivated. */
  activeMitras(): LoadMitra[] {
    return this.mitras.filter((m) => m.deactivationAskedAt === null);
  }

  start(): void {
    this.running = true;
    for (const m of this.mitras) {
      // Spread over the second, as independent phones are.
      const t = setTimeout(
        () => this.timers.push(setInterval(() => this.heartbeat(m), 1000)),
        Math.random() * 1000,
      );
      this.timers.push(t as unknown as ReturnType<typeof setInterval>);
    }
    for (const c of this.customers) this.loops.push(this.customerLoop(c));
  }

  /**
   * Stops the customers' new requests and waits (up to 15 s) for every customer loop
   * to finish its current step; resolves with the loops still stuck then
   * (a request that never settles is a finding of its own).
   */
  async stop(): Promise<number> {
    // Mitras keep heartbeating until close(): a mitra that stopped would rightly go stale (and
    // auto-offline) while the invariants are checked.
    this.running = false;
    let done = 0;
    await Promise.race([Promise.all(this.loops.map((l) => l.then(() => void done++))), sleep(15_000)]);
    const stuck = this.loops.length - done;
    this.loops.length = 0;
    return stuck;
  }

  /** What the customers whose loop did not finish were waiting for. */
  stuckSteps(): string[] {
    return this.customers.map((c) => c.step).filter((s) => s !== "idle");
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    for (const m of this.mitras) m.client.close();
    for (const c of this.customers) c.client.close();
  }

  /** From `since` on, each client's first success (and what it was) is kept: the recovery of each. */
  private recovery: {
    since: number;
    first: Map<LoadMitra | LoadCustomer, { at: number; what: string }>;
  } | null = null;

  watchRecovery(since: number): void {
    this.recovery = { since, first: new Map() };
  }

  /** The slowest clients to succeed again after `watchRecovery(since)`: ms and what succeeded. */
  slowestRecoveries(n: number): string[] {
    const r = this.recovery;
    if (!r) return [];
    return [...r.first.entries()]
      .sort((a, b) => b[1].at - a[1].at)
      .slice(0, n)
      .map(([who, f]) => `${f.at - r.since} ms ${"lastAckAt" in who ? "mitra" : "customer"} ${f.what}`);
  }

  private ok(who: LoadMitra | LoadCustomer, what: string): void {
    const at = Date.now();
    if ("lastAckAt" in who) who.lastAckAt = at;
    else who.lastOkAt = at;
    const r = this.recovery;
    if (r && at > r.since && !r.first.has(who)) r.first.set(who, { at, what });
  }

  fail(op: string, err: unknown): void {
    const code = (err as HaloError)?.code ?? (err as Error)?.message ?? String(err);
    const key = `${op}:${code}`;
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
  }

  private countReconnects(client: HaloClient): void {
    let first = true;
    client.socket.on("hello", () => {
      if (first) first = false;
      else this.reconnects++;
    });
  }

  private async addMitra(): Promise<void> {
    const store = new MemoryTokenStore();
    const signIn = await sdkMitra(this.signInAt.internalUrl, this.signInAt.publicUrl, { store });
    signIn.client.close();
    const id = signIn.id;
    // Heartbeats are sent by the load (every second), not by the SDK's slower timer.
    const client = sdkClient(this.baseUrl, { store, socket: { heartbeat: false } });
    const m: LoadMitra = {
      id,
      client,
      lastAckAt: 0,
      deactivationAskedAt: null,
      deactivatedAt: null,
      acceptedAfterDeactivation: 0,
      conversations: new Map(),
    };
    this.countReconnects(client);
    await client.goOnline();
    await client.socket.connect();
    m.lastAckAt = Date.now();
    // Offers are taken until close(): a customer's request made just before stop() still gets its mitra.
    client.socket.on("pairing.offer", (offer) => {
      client.acceptOffer(offer).then(
        (sessionId) => this.mitraConversation(m, sessionId),
        (err: HaloError) => {
          // Losing the race to another mitra is the protocol working, not a failure.
          if (!["PAIRING_TAKEN", "AT_CAPACITY", "PAIRING_CLOSED", "NOT_FOUND"].includes(err.code))
            this.fail("pairing.accept", err);
        },
      );
    });
    this.mitras.push(m);
  }

  /** The mitra's side of a session: it answers every customer message once. */
  mitraConversation(m: LoadMitra, sessionId: string): Conversation {
    const existing = m.conversations.get(sessionId);
    if (existing) return existing;
    const conv = m.client.conversation(sessionId);
    m.conversations.set(sessionId, conv);
    conv.on("message", (msg) => {
      if (msg.senderType !== "customer" || !this.running) return;
      conv.send(`re: ${msg.text}`).then(
        (stored) => this.sessions.get(sessionId)?.acked.set(stored.id, stored),
        (err) => {
          // SESSION_STATE: the customer ended it first; SOCKET_CLOSED: the app left the ended conversation.
          if (!["SESSION_STATE", "SOCKET_CLOSED"].includes((err as HaloError).code))
            this.fail("chat.send(mitra)", err);
        },
      );
    });
    return conv;
  }

  private async addCustomer(): Promise<void> {
    const client = await sdkCustomer(this.baseUrl);
    this.countReconnects(client);
    const hello = await client.socket.connect();
    this.customers.push({ id: hello.userId, client, lastOkAt: Date.now(), step: "idle" });
  }

  private heartbeat(m: LoadMitra): void {
    if (m.client.socket.state === "stopped") return;
    const sentAt = Date.now();
    m.client.socket.request("heartbeat", {}).then(
      () => {
        this.ok(m, "heartbeat");
        // Made after the deactivation was acknowledged: the gateway must have refused it.
        if (m.deactivatedAt !== null && sentAt > m.deactivatedAt) m.acceptedAfterDeactivation++;
      },
      (err: HaloError) => {
        // A deactivated mitra's refusals are what must happen.
        if (m.deactivationAskedAt === null) this.fail("heartbeat", err);
      },
    );
  }

  private async customerLoop(c: LoadCustomer): Promise<void> {
    try {
      await this.customerSteps(c);
    } finally {
      c.step = "idle";
    }
  }

  private async customerSteps(c: LoadCustomer): Promise<void> {
    while (this.running) {
      const sessionId = await this.pair(c);
      if (!sessionId) {
        await sleep(300);
        continue;
      }
      await this.chat(c, sessionId);
    }
  }

  private async pair(c: LoadCustomer): Promise<string | null> {
    try {
      const attempt = c.client.requestPairing();
      c.step = "pairing";
      void attempt.requestId
        .then((id) => (c.step = `pairing ${id} since ${new Date().toISOString()}`))
        .catch(() => {});
      const result = await attempt.result;
      if (result.status !== "matched") {
        this.fail("pairing", { code: result.reason });
        return null;
      }
      this.ok(c, c.step);
      return result.sessionId;
    } catch (err) {
      this.fail("pairing", err);
      // The gateway paired this customer again by itself (a reroute): carry on in that session, as the app does.
      if ((err as HaloError).code === "SESSION_OPEN") {
        const open = await c.client.sessions.listOpen().catch(() => []);
        if (open[0] && !this.sessions.has(open[0].id)) return open[0].id;
      }
      return null;
    }
  }

  private async chat(c: LoadCustomer, sessionId: string): Promise<void> {
    const conversation = c.client.conversation(sessionId);
    const session: LoadSession = {
      id: sessionId,
      customer: c,
      mitraId: null,
      status: "pending_payment",
      acked: new Map(),
      conversation,
    };
    this.sessions.set(sessionId, session);
    // One idempotency key for the intent: a retry after a lost answer gets the first answer again.
    const payKey = `pay-${sessionId}`;
    const paid = await this.transition(c, session, "pay", "active", () =>
      c.client.sessions.pay(sessionId, { idempotencyKey: payKey }),
    );
    if (!paid) return;
    for (let i = 0; i < this.opts.messagesPerSession && this.running; i++) {
      await sleep(this.opts.messageEveryMs);
      c.step = `chat.send in ${sessionId} since ${new Date().toISOString()}`;
      try {
        const stored = await conversation.send(`m${i} ${sessionId.slice(0, 8)}`);
        session.acked.set(stored.id, stored);
        this.ok(c, c.step);
      } catch (err) {
        this.fail("chat.send", err);
      }
    }
    await this.transition(c, session, "end", "ended", () => c.client.endSession(sessionId));
    // The app leaves the conversation; what it holds is checked afterwards by a fresh catch-up.
    conversation.close();
    if (session.mitraId) {
      const m = this.mitras.find((x) => x.id === session.mitraId);
      m?.conversations.get(sessionId)?.close();
    }
  }

  /** A session transition, retried until the gateway answers it (a customer's app keeps trying). */
  private async transition(
    c: LoadCustomer,
    session: LoadSession,
    op: string,
    to: LoadSession["status"],
    call: () => Promise<ChatSession>,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 40; attempt++) {
      c.step = `session.${op} of ${session.id} since ${new Date().toISOString()}`;
      try {
        const s = await call();
        session.status = s.status as LoadSession["status"];
        session.mitraId = s.mitraId;
        this.ok(c, c.step);
        return s.status === to;
      } catch (err) {
        // The first attempt may have been done with its answer lost (a killed process): ask where it stands.
        if ((err as HaloError).code === "SESSION_STATE") {
          const now = await c.client.sessions.get(session.id).catch(() => null);
          if (now?.status === to) {
            session.status = to;
            session.mitraId = now.mitraId;
            this.ok(c, c.step);
            return true;
          }
          this.fail(`session.${op}`, {
            code: `SESSION_STATE (stored: ${now ? `${now.status}/${now.endReason}` : "?"})`,
          });
          if (now?.status === "ended") return false; // ended elsewhere (a timer, the mitra, a reroute): nothing to retry
        } else this.fail(`session.${op}`, err);
        await sleep(250);
      }
    }
    return false;
  }
}

async function inBatches(count: number, size: number, make: () => Promise<void>): Promise<void> {
  for (let i = 0; i < count; i += size)
    await Promise.all(Array.from({ length: Math.min(size, count - i) }, make));
}
