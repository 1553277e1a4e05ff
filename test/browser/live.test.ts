import { afterAll, describe, expect, it } from "vitest";
import type { TestGateway } from "../support/gateway.js";
import { mitraToken, seedMitra } from "../support/mitras.js";
import { ADMIN_ENV } from "../support/people.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";
import { WsClient, wsUrl } from "../support/ws-client.js";
import {
  countOf,
  expectNoProblems,
  type OpenedPage,
  openPage,
  signInThroughForm,
  useBrowser,
} from "./support/browser.js";

const ctx = useGateways({ env: { ...ADMIN_ENV, ENABLE_TEST_ROUTES: "true", ...QUIET_SWEEPS } });
const gateway = (): TestGateway => ctx.gateways[0] as TestGateway;
const b = useBrowser();
const sockets: WsClient[] = [];
afterAll(async () => {
  for (const s of sockets) await s.close().catch(() => {});
});

/** A mitra with a socket on the public listener, the way the app holds one. */
async function mitraSocket(name: string): Promise<{ id: string; ws: WsClient }> {
  const gw = gateway();
  const id = await seedMitra(gw.pool);
  await gw.pool.query("UPDATE mitras SET display_name = $2 WHERE id = $1", [id, name]);
  const ws = await WsClient.connect(wsUrl(gw.publicUrl, "/ws"), { token: await mitraToken(gw, id) });
  sockets.push(ws);
  await ws.next("hello");
  return { id, ws };
}

const chartPoints = async (o: OpenedPage): Promise<number> =>
  Number(await o.page.locator("figure.chart").getAttribute("data-points"));
const chartSummary = async (o: OpenedPage): Promise<string> =>
  (await o.page.getByTestId("chart-summary").textContent()) ?? "";

describe("control center: live counts", () => {
  it("moves the counts and the chart when a mitra goes online, heartbeats and goes offline", async () => {
    const gw = gateway();
    const o = await openPage(b.browser);
    await signInThroughForm(o.page, gw.internalUrl);
    await expect.poll(() => countOf(o.page, "online")).toBe("0");
    // Seeded from the history route, then carried on by the socket's frames.
    await expect.poll(() => o.page.locator("figure.chart").getAttribute("data-history")).toBe("ready");
    const before = await chartPoints(o);

    const m = await mitraSocket("Sari Live");
    const on = await m.ws.request({ type: "status.set", online: true });
    expect(on.type).toBe("ack");
    await expect.poll(() => countOf(o.page, "online"), { timeout: 3000 }).toBe("1");
    await expect.poll(() => countOf(o.page, "available"), { timeout: 3000 }).toBe("1");
    await expect.poll(() => chartPoints(o), { timeout: 3000 }).toBeGreaterThan(before);
    await expect.poll(() => chartSummary(o), { timeout: 3000 }).toContain("1 online, 1 available");

    // Heartbeats keep it available; the page keeps showing it.
    for (let i = 0; i < 3; i++) expect((await m.ws.request({ type: "heartbeat" })).type).toBe("ack");
    expect(await countOf(o.page, "available")).toBe("1");

    const off = await m.ws.request({ type: "status.set", online: false });
    expect(off.type).toBe("ack");
    await expect.poll(() => countOf(o.page, "online"), { timeout: 3000 }).toBe("0");
    await expect.poll(() => chartSummary(o), { timeout: 3000 }).toContain("0 online, 0 available");
    expectNoProblems(o);
    await o.close();
  });

  it("deactivates a mitra from the list: the row shows it within a second and its socket closes with 4003", async () => {
    const gw = gateway();
    const o = await openPage(b.browser);
    await signInThroughForm(o.page, gw.internalUrl);
    const m = await mitraSocket("Dewi Deactivated");
    expect((await m.ws.request({ type: "status.set", online: true })).type).toBe("ack");

    await o.page.getByRole("link", { name: "Mitras" }).click();
    await o.page.getByLabel("Search by name or phone").fill("Dewi");
    const row = o.page.locator(`tr[data-mitra-id="${m.id}"]`);
    await row.getByText("Online, available").waitFor({ timeout: 3000 });
    // Heartbeat age is shown as "x s ago".
    expect(await row.locator("[data-heartbeat]").textContent()).toMatch(/^\d+ s ago$/);

    await row.getByRole("button", { name: "Deactivate Dewi Deactivated" }).click();
    const dialog = o.page.getByRole("dialog", { name: "Deactivate Dewi Deactivated?" });
    await dialog.getByRole("button", { name: "Deactivate", exact: true }).click();
    const clicked = Date.now();
    await row.getByText("Deactivated", { exact: true }).waitFor({ timeout: 1000 });
    expect(Date.now() - clicked).toBeLessThan(1000);

    const closed = await Promise.race([
      m.ws.closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("socket still open")), 2000)),
    ]);
    expect(closed.code).toBe(4003);
    expect(m.ws.frames.map((f) => f.type)).toContain("revoked");

    // And back: activation is one click, the mitra shows offline (its socket is gone).
    await row.getByRole("button", { name: "Activate Dewi Deactivated" }).click();
    await row.getByText("Offline", { exact: true }).waitFor({ timeout: 1000 });

    // Its status log names every change, in the operator's zone.
    await row.getByRole("button", { name: "Status log of Dewi Deactivated" }).click();
    const log = o.page.getByRole("dialog", { name: "Status log of Dewi Deactivated" });
    await log.getByText("Activated", { exact: true }).waitFor();
    await log.getByText("Deactivated", { exact: true }).waitFor();
    await log.getByText("Went online", { exact: true }).waitFor();
    // Times in the operator's zone (the browser's: Asia/Jakarta here), not the server's or UTC.
    const stamp = log.locator("time").first();
    const iso = (await stamp.getAttribute("datetime")) ?? "";
    const jakarta = new Intl.DateTimeFormat("en-GB", {
      dateStyle: "medium",
      timeStyle: "medium",
      timeZone: "Asia/Jakarta",
    }).format(new Date(iso));
    expect(await stamp.textContent()).toBe(jakarta);
    await o.page.keyboard.press("Escape");
    await log.waitFor({ state: "hidden" });
    expectNoProblems(o);
    await o.close();
  });
});
