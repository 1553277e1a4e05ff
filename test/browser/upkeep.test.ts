import type { WebSocket as PageSocket } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { TEST_VALKEY_URL } from "../support/env.js";
import { startTestGateway, type TestGateway } from "../support/gateway.js";
import { ADMIN, ADMIN_ENV } from "../support/people.js";
import { testPrefix } from "../support/valkey.js";
import { expectNoProblems, openPage, signInThroughForm, useBrowser } from "./support/browser.js";
import { TcpProxy } from "./support/tcp-proxy.js";

/**
 * Keeping a session alive: the access token lives 6 s here, so the page must
 * refresh it (HTTP) and swap it on the socket (auth.refresh) to stay signed
 * in; and a gateway restart must bring the socket back by itself.
 */
const TTL_SECONDS = 6;
let db: TestDatabase;
let gw: TestGateway;
const prefix = testPrefix();
const start = () =>
  startTestGateway({
    databaseUrl: db.url,
    valkeyUrl: TEST_VALKEY_URL,
    prefix,
    env: { ...ADMIN_ENV, ACCESS_TOKEN_TTL_SECONDS: String(TTL_SECONDS) },
  });
const portOf = (url: string): number => Number(new URL(url).port);

let running = false;
beforeAll(async () => {
  db = await createTestDatabase();
  gw = await start();
  running = true;
});
afterAll(async () => {
  if (running) await gw.close();
  await db?.drop();
});
const b = useBrowser();

interface SocketLog {
  sent: string[];
  received: string[];
  closed: boolean;
}

function watchSockets(page: import("playwright-core").Page): SocketLog[] {
  const logs: SocketLog[] = [];
  page.on("websocket", (ws: PageSocket) => {
    const log: SocketLog = { sent: [], received: [], closed: false };
    logs.push(log);
    ws.on("framesent", (f) => log.sent.push(String(f.payload)));
    ws.on("framereceived", (f) => log.received.push(String(f.payload)));
    ws.on("close", () => {
      log.closed = true;
    });
  });
  return logs;
}

describe("control center: keeping the session and the socket alive", () => {
  it("refreshes the token before it expires and swaps it in-band on the same socket", async () => {
    const o = await openPage(b.browser);
    const sockets = watchSockets(o.page);
    await signInThroughForm(o.page, gw.internalUrl);
    await o.page.getByText(`${ADMIN.email} (admin)`).waitFor();
    // Two and a half lifetimes: without the refreshes the socket would have been closed 4001 twice.
    await new Promise((r) => setTimeout(r, TTL_SECONDS * 2.5 * 1000));

    // One socket all along: never closed for an expired token, never reopened.
    expect(sockets.map((x) => x.received.filter((t) => t.includes("token.expired")).length)).toEqual([0]);
    const [s] = sockets as [SocketLog];
    expect(s.closed).toBe(false);
    const swaps = s.sent.map((t) => JSON.parse(t)).filter((f) => f.type === "auth.refresh");
    expect(swaps.length).toBeGreaterThanOrEqual(2);
    const acks = s.received
      .map((t) => JSON.parse(t))
      .filter((f) => f.type === "ack" && swaps.some((w) => w.id === f.id));
    expect(acks.length).toBe(swaps.length);
    expect(Date.parse(acks.at(-1).accessExpiresAt)).toBeGreaterThan(Date.now());
    expect(s.received.some((t) => t.includes("token.expired"))).toBe(false);
    // Still signed in, and the API still answers with the newest token.
    await o.page.getByRole("link", { name: "Mitras" }).click();
    await o.page.getByText("No mitra matches.").waitFor();
    expectNoProblems(o);
    await o.close();
  });

  it("shows a reconnecting banner while the gateway is down and reconnects by itself", async () => {
    const o = await openPage(b.browser, {
      // While the gateway is down, each attempt fails in the console.
      allow: [/WebSocket connection to .* failed/, /Failed to load resource: net::ERR_/],
    });
    const sockets = watchSockets(o.page);
    // The page talks to the gateway through a forwarder, so its origin outlives the gateway process.
    const proxy = await TcpProxy.start(portOf(gw.internalUrl));
    try {
      await signInThroughForm(o.page, proxy.url);
      await o.page.locator('[data-count="online"] .card-value').getByText("0").waitFor();

      // The gateway shuts down (its sockets close with 1001) and stays away for a while.
      proxy.setTarget(null);
      running = false;
      await gw.close();
      await o.page.getByTestId("reconnecting").waitFor({ timeout: 3000 });
      expect(await o.page.getByTestId("reconnecting").textContent()).toContain("reconnecting");
      expect(sockets[0]?.closed).toBe(true);
      await new Promise((r) => setTimeout(r, 2000));

      // A new process on the same database: the page comes back by itself, still signed in.
      gw = await start();
      running = true;
      proxy.setTarget(portOf(gw.internalUrl));
      await o.page.getByTestId("reconnecting").waitFor({ state: "hidden", timeout: 20_000 });
      await o.page.getByText(`${ADMIN.email} (admin)`).waitFor();
    } finally {
      await proxy.close();
    }
    expect(sockets.length).toBeGreaterThanOrEqual(2);
    const last = sockets.at(-1) as SocketLog;
    expect(last.received.some((t) => t.includes('"dashboard.counts"'))).toBe(true);
    expectNoProblems(o);
    await o.close();
  });
});
