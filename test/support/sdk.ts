import {
  type ClientOptions,
  createHaloClient,
  type Emitter,
  type FetchLike,
  type HaloClient,
  nodeWebSocketFactory,
  type RequestInitLike,
  type ResponseLike,
  type WebSocketFactory,
} from "../../packages/client/src/node.js";
import { newMitraPhone } from "./people.js";

/** SDK clients made by a test file, closed by `closeClients()` in its afterEach/afterAll. */
const made = new Set<HaloClient>();

/** An SDK client with test-sized backoff (100 ms doubling to 1 s) and a 5 s request timeout. */
export function sdkClient(baseUrl: string, opts: Partial<ClientOptions> = {}): HaloClient {
  const client = createHaloClient({
    ...opts,
    baseUrl,
    socket: {
      backoff: { initialMs: 100, maxMs: 1000, stableAfterMs: 1000 },
      requestTimeoutMs: 5000,
      connectTimeoutMs: 5000,
      ...opts.socket,
    },
  });
  made.add(client);
  return client;
}

export function closeClients(): void {
  for (const c of made) c.close();
  made.clear();
}

/** A new anonymous customer signed in through the SDK. */
export async function sdkCustomer(baseUrl: string, opts: Partial<ClientOptions> = {}): Promise<HaloClient> {
  const client = sdkClient(baseUrl, opts);
  await client.auth.signInAnonymous("Pat");
  return client;
}

/**
 * A mitra seeded through the test route (ENABLE_TEST_ROUTES=true) and signed
 * in through the SDK with the code the test route reveals.
 */
export async function sdkMitra(
  internalUrl: string,
  baseUrl: string,
  opts: Partial<ClientOptions> = {},
): Promise<{ client: HaloClient; id: string; phone: string }> {
  const phone = newMitraPhone();
  const seeded = await fetch(`${internalUrl}/internal/_test/seed-mitra`, {
    method: "POST",
    body: JSON.stringify({ phone, displayName: "Mitra" }),
  });
  if (seeded.status !== 201) throw new Error(`seed-mitra failed: ${seeded.status}`);
  const { id } = (await seeded.json()) as { id: string };
  const client = sdkClient(baseUrl, opts);
  const { requestId } = await client.auth.requestOtp("mitra", phone);
  const codeRes = await fetch(`${internalUrl}/internal/_test/otp?phone=${encodeURIComponent(phone)}`);
  const { code } = (await codeRes.json()) as { code: string };
  await client.auth.verifyOtp("mitra", requestId, code);
  return { client, id, phone };
}

export interface FetchCall {
  path: string;
  body: string | undefined;
  status?: number;
  answer?: string;
}

/**
 * The global fetch with a tap: every call is recorded; `loseNextResponse`
 * lets the server answer a matching request and then throws as a dropped
 * connection would (the server did the work, the client never saw it);
 * `holdResponses` delays the answers of matching requests.
 */
export class FetchTap {
  readonly calls: FetchCall[] = [];
  /** The most calls to a path containing `/auth/refresh` that were in flight at once. */
  peakRefreshesInFlight = 0;
  private refreshesInFlight = 0;
  private lose: { match: string; count: number } | null = null;
  private hold: { match: string; ms: number } | null = null;
  private refuse: { match: string; count: number } | null = null;

  readonly fetch: FetchLike = async (url: string, init: RequestInitLike): Promise<ResponseLike> => {
    const call: FetchCall = { path: new URL(url).pathname, body: init.body };
    this.calls.push(call);
    const isRefresh = call.path.includes("/auth/refresh");
    if (isRefresh)
      this.peakRefreshesInFlight = Math.max(this.peakRefreshesInFlight, ++this.refreshesInFlight);
    try {
      return await this.answer(url, init, call);
    } finally {
      if (isRefresh) this.refreshesInFlight--;
    }
  };

  private async answer(url: string, init: RequestInitLike, call: FetchCall): Promise<ResponseLike> {
    if (this.refuse && call.path.includes(this.refuse.match) && this.refuse.count > 0) {
      this.refuse.count--;
      const text = JSON.stringify({
        error: { code: "DEPENDENCY_UNAVAILABLE", message: "The database is unavailable; retry shortly" },
      });
      Object.assign(call, { status: 503, answer: text });
      return { status: 503, text: async () => text };
    }
    const res = await fetch(url, init);
    const text = await res.text();
    call.status = res.status;
    call.answer = text;
    if (this.hold && call.path.includes(this.hold.match))
      await new Promise((r) => setTimeout(r, this.hold?.ms));
    if (this.lose && call.path.includes(this.lose.match) && this.lose.count > 0) {
      this.lose.count--;
      throw new TypeError("fetch failed (the test dropped the response)");
    }
    return { status: res.status, text: async () => text };
  }

  /** The next `count` matching requests are answered 503 without reaching the gateway, as when its Postgres is down. */
  refuseNext(match: string, count = 1): void {
    this.refuse = { match, count };
  }

  loseNextResponses(match: string, count = 1): void {
    this.lose = { match, count };
  }

  holdResponses(match: string, ms: number): void {
    this.hold = ms > 0 ? { match, ms } : null;
  }

  /** Calls to a path, in order. */
  to(match: string): FetchCall[] {
    return this.calls.filter((c) => c.path.includes(match));
  }
}

/** The Node WebSocket factory, counting the sockets it opens. */
export function countingWebSocket(): { factory: WebSocketFactory; count: () => number } {
  let n = 0;
  return {
    factory: (url, token) => {
      n++;
      return nodeWebSocketFactory(url, token);
    },
    count: () => n,
  };
}

/**
 * The Node WebSocket factory, with every incoming frame of `type` dropped, as
 * when the gateway that should send it dies first (the SDK never sees it).
 */
export function droppingFrames(type: string): WebSocketFactory {
  const marker = `"type":"${type}"`;
  return (url, token) => {
    const ws = nodeWebSocketFactory(url, token);
    return new Proxy(ws, {
      set(target, prop, value) {
        if (prop === "onmessage" && typeof value === "function")
          target.onmessage = (ev) => String(ev.data).includes(marker) || value(ev);
        else Reflect.set(target, prop, value);
        return true;
      },
      get(target, prop) {
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the next `event` an SDK emitter sends. */
export function nextEvent<E extends object, K extends keyof E>(
  source: Emitter<E>,
  event: K,
  timeoutMs = 5000,
): Promise<E[K]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = source.once(event, (v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}
