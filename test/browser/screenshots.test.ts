import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import type { CountsPoint } from "../../src/mirror/dashboard-history.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { mitraToken } from "../support/mitras.js";
import { ADMIN_ENV, call, operatorToken } from "../support/people.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";
import { WsClient, wsUrl } from "../support/ws-client.js";
import { countOf, expectNoProblems, openPage, signInThroughForm, useBrowser } from "./support/browser.js";
import { TcpProxy } from "./support/tcp-proxy.js";

/**
 * The pictures in docs/control-center.md, taken from a real gateway with a
 * few mitras, sessions and verifications. `node scripts/screenshots.mjs`
 * runs this file with SCREENSHOT_DIR=docs/control-center; in `npm test` the
 * PNGs go to a temporary folder (the walk still has to work, without a
 * console error).
 */
const OUT = process.env.SCREENSHOT_DIR ?? join(tmpdir(), `halo-cc-screenshots-${process.pid}`);
mkdirSync(OUT, { recursive: true });

const ctx = useGateways({ env: { ...ADMIN_ENV, ENABLE_TEST_ROUTES: "true", ...QUIET_SWEEPS } });
const gateway = (): TestGateway => ctx.gateways[0] as TestGateway;
const b = useBrowser();
const sockets: WsClient[] = [];
afterAll(async () => {
  for (const s of sockets) await s.close().catch(() => {});
});

const MITRAS = [
  { name: "Sari Wulandari", phone: "+6281234560011", online: true, session: "active" },
  { name: "Dewi Lestari", phone: "+6281234560012", online: true, session: "pending_payment" },
  { name: "Putri Anggraini", phone: "+6281234560013", online: true, session: null },
  { name: "Ayu Kartika", phone: "+6281234560014", online: true, session: null },
  { name: "Rina Maharani", phone: "+6281234560015", online: true, session: "active" },
  { name: "Nadia Permata", phone: "+6281234560016", online: false, session: null },
  { name: "Intan Safitri", phone: "+6281234560017", online: false, session: null },
  { name: "Maya Puspita", phone: "+6281234560018", online: false, session: null, deactivated: true },
] as const;

async function shot(page: Page, name: string): Promise<void> {
  // Let the fonts, the chart and the "x s ago" ticks settle.
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(OUT, `${name}.png`) });
}

/** Mitras, open sessions and verifications as a small deployment would have them. */
async function seed(): Promise<string[]> {
  const gw = gateway();
  const ids: string[] = [];
  for (const [i, m] of MITRAS.entries()) {
    const { rows } = await gw.pool.query<{ id: string }>(
      `INSERT INTO mitras (phone, display_name, max_concurrent_sessions, verified_at)
       VALUES ($1, $2, $3, $4) RETURNING id`,
      [m.phone, m.name, i === 4 ? 2 : 1, i < 5 ? new Date(Date.now() - (i + 2) * 86_400_000) : null],
    );
    const id = (rows[0] as { id: string }).id;
    ids.push(id);
    if (m.session) {
      const c = await gw.pool.query<{ id: string }>(
        "INSERT INTO customers (display_name) VALUES ('Pat') RETURNING id",
      );
      const active = m.session === "active";
      await gw.pool.query(
        `INSERT INTO chat_sessions (customer_id, mitra_id, status, created_at, paid_at, expires_at, payment_deadline_at)
         VALUES ($1, $2, $3, now() - make_interval(mins => $4), $5, $6, $7)`,
        [
          (c.rows[0] as { id: string }).id,
          id,
          m.session,
          active ? 12 + i : 1,
          active ? new Date(Date.now() - (10 + i) * 60_000) : null,
          active ? new Date(Date.now() + (20 - i) * 60_000) : null,
          active ? null : new Date(Date.now() + 4 * 60_000),
        ],
      );
    }
  }
  const statuses = ["approved", "approved", "in_progress", "denied", "expired"] as const;
  for (const [i, status] of statuses.entries())
    await gw.pool.query(
      `INSERT INTO verifications (mitra_id, provider, client_id, scan_ref, status, status_reason, recreate_count,
         expires_at, created_at, updated_at)
       VALUES ($1, 'idenfy', $2, $3, $4, $5, $6, $7, now() - make_interval(hours => $8), now() - make_interval(hours => $9))`,
      [
        ids[i + 2],
        `client-${i}`,
        `scan-${i}`,
        status,
        status === "denied" ? "DOC_NOT_SUPPORTED" : null,
        status === "expired" ? 2 : 0,
        status === "in_progress" ? new Date(Date.now() + 20 * 60_000) : null,
        30 - i * 5,
        20 - i * 4,
      ],
    );
  await gw.gateway.services.scheduler.runNow("reseed");
  return ids;
}

/**
 * The gateway samples its counts every 10 s from its own start, so a fresh
 * one has a minute of history at most. For the picture only, the hour
 * before is filled with a made-up, plausible day (the page reads it through
 * GET /internal/dashboard/history like any other); the right edge is live.
 */
function fillHistory(): void {
  const h = gateway().gateway.services.dashboardHistory as unknown as { points: CountsPoint[] };
  const made: CountsPoint[] = [];
  const now = Date.now();
  for (let t = now - 3_590_000; t < now - 60_000; t += 10_000) {
    const m = (now - t) / 60_000; // minutes ago
    const online = Math.max(1, Math.round(5 + 2 * Math.sin(m / 9) + Math.sin(m / 3.1)));
    const active = Math.max(0, Math.min(online, Math.round(2 + 1.5 * Math.sin(m / 7 + 1))));
    const pending = Math.round(Math.max(0, Math.sin(m / 4.3)));
    made.push({
      at: new Date(t).toISOString(),
      online,
      available: Math.max(0, online - active - pending),
      deactivated: 1,
      activeSessions: active,
      pendingSessions: pending,
    });
  }
  h.points = [...made, ...h.points];
}

describe("control center: screenshots for the docs", () => {
  it("takes a picture of every page", async () => {
    const gw = gateway();
    const ids = await seed();
    fillHistory();

    // Sign-in, and a locked account's wait.
    const signIn = await openPage(b.browser, {
      expected: [
        { path: "/internal/auth/login", status: 401 },
        { path: "/internal/auth/login", status: 423 },
      ],
    });
    await signIn.page.goto(`${gw.internalUrl}/internal/`);
    await signIn.page.getByRole("heading", { name: "Sign in" }).waitFor();
    await shot(signIn.page, "sign-in");
    await signIn.page.getByLabel("Email").fill("ops@halo.test");
    for (let i = 0; i < 6 && (await signIn.page.getByText("locked").count()) === 0; i++) {
      await signIn.page.getByLabel("Password", { exact: true }).fill(`Wrong-Passw0rd-${i}`);
      await signIn.page.getByRole("button", { name: "Sign in" }).click();
      await signIn.page.getByRole("alert").waitFor();
      await signIn.page.getByRole("button", { name: "Sign in" }).waitFor();
    }
    await signIn.page.getByText("this account is locked").waitFor();
    await shot(signIn.page, "sign-in-locked");
    expectNoProblems(signIn);
    await signIn.close();

    // The invitation page, from a real mailed link.
    const admin = await operatorToken(gw);
    await call(`${gw.internalUrl}/internal/control-center-users`, {
      token: admin,
      body: { email: "budi@halo.test", role: "operator" },
    });
    let link = "";
    await waitFor(async () => {
      const r = await call(`${gw.internalUrl}/internal/_test/mail?to=budi%40halo.test`);
      link = r.status === 200 ? r.body.link : "";
      return link !== "";
    }, 5000);
    const invite = await openPage(b.browser);
    await invite.page.goto(link);
    await invite.page.getByRole("heading", { name: "Accept your invitation" }).waitFor();
    await shot(invite.page, "accept-invite");
    await invite.close();

    // Mitras online with sockets that heartbeat, the way the app keeps them.
    for (const [i, m] of MITRAS.entries()) {
      if (!m.online) continue;
      const ws = await WsClient.connect(wsUrl(gw.publicUrl, "/ws"), {
        token: await mitraToken(gw, ids[i] as string),
      });
      sockets.push(ws);
      await ws.next("hello");
      expect((await ws.request({ type: "status.set", online: true })).type).toBe("ack");
    }
    const deactivated = ids[MITRAS.length - 1] as string;
    await call(`${gw.internalUrl}/internal/mitras/${deactivated}`, {
      method: "PATCH",
      token: admin,
      body: { isActive: false },
    });

    // Through a forwarder, so the picture of the reconnecting banner can cut the line.
    const proxy = await TcpProxy.start(Number(new URL(gw.internalUrl).port));
    try {
      for (const viewport of [
        { width: 1280, height: 800, suffix: "" },
        { width: 820, height: 1180, suffix: "-tablet" },
      ]) {
        const o = await openPage(b.browser, {
          viewport,
          expected: [
            { path: "/internal/mitras", status: 409 },
            { path: "/internal/config", status: 400 },
          ],
          allow: [/WebSocket connection to .* failed/, /Failed to load resource: net::ERR_/],
        });
        await signInThroughForm(o.page, proxy.url);
        await expect.poll(() => countOf(o.page, "online"), { timeout: 5000 }).toBe("5");
        for (const s of sockets) await s.request({ type: "heartbeat" });
        await shot(o.page, `dashboard${viewport.suffix}`);

        await o.page.getByRole("link", { name: "Mitras" }).click();
        await o.page.getByRole("rowheader", { name: "Maya Puspita" }).waitFor();
        await shot(o.page, `mitras${viewport.suffix}`);
        if (viewport.suffix) {
          await o.close();
          continue;
        }
        await o.page.getByText("Add a mitra").click();
        await o.page.getByLabel("Phone", { exact: true }).fill("+6281234560011");
        await o.page.getByLabel("Display name").fill("Sari again");
        await o.page.getByRole("button", { name: "Add mitra" }).click();
        await o.page.locator(".field-error").first().waitFor();
        await shot(o.page, "mitras-create-taken");
        await o.page.getByText("Add a mitra").click();
        await o.page.getByRole("button", { name: "Status log of Maya Puspita" }).click();
        await o.page.getByRole("dialog").getByText("Deactivated", { exact: true }).waitFor();
        await shot(o.page, "mitra-status-log");
        await o.page.keyboard.press("Escape");

        await o.page.getByRole("link", { name: "Open sessions" }).click();
        await o.page.locator("tbody .badge.pending").first().waitFor();
        await shot(o.page, "sessions");

        await o.page.getByRole("link", { name: "Verifications" }).click();
        await o.page.getByText("DOC_NOT_SUPPORTED").waitFor();
        await shot(o.page, "verifications");

        await o.page.getByRole("link", { name: "Operators" }).click();
        await o.page.locator('tr[data-operator="budi@halo.test"]').waitFor();
        await shot(o.page, "operators");

        await o.page.getByRole("link", { name: "Settings" }).click();
        await o.page.getByLabel("otp_max_attempts").fill("0");
        await o.page.getByLabel("session_minutes").fill("45");
        await o.page.getByRole("button", { name: /^Save/ }).click();
        await o.page.getByRole("alert").waitFor();
        await shot(o.page, "settings-refused");

        await o.page.getByRole("link", { name: "Dashboard" }).click();
        proxy.setTarget(null);
        proxy.dropAll();
        await o.page.getByTestId("reconnecting").waitFor();
        await shot(o.page, "reconnecting");
        proxy.setTarget(Number(new URL(gw.internalUrl).port));
        await o.page.getByTestId("reconnecting").waitFor({ state: "hidden", timeout: 20_000 });
        expectNoProblems(o);
        await o.close();
      }
    } finally {
      await proxy.close();
    }
  });
});
