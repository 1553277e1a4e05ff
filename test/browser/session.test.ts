import { randomInt } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { TestGateway } from "../support/gateway.js";
import { ADMIN, ADMIN_ENV, call, operatorToken } from "../support/people.js";
import { useGateways } from "../support/setup.js";
import { expectNoProblems, openPage, signInThroughForm, useBrowser } from "./support/browser.js";

const ctx = useGateways({ env: { ...ADMIN_ENV, ENABLE_TEST_ROUTES: "true" } });
const gateway = (): TestGateway => ctx.gateways[0] as TestGateway;
const b = useBrowser();

/** An operator (role `operator`) created by the admin with a password. */
async function newOperator(): Promise<{ id: string; email: string; password: string }> {
  const gw = gateway();
  const email = `op-${randomInt(0, 1e9)}@halo.test`;
  const password = "Operat0r-Pass-19";
  const admin = await operatorToken(gw);
  const res = await call(`${gw.internalUrl}/internal/control-center-users`, {
    token: admin,
    body: { email, password, role: "operator" },
  });
  expect(res.status).toBe(201);
  return { id: res.body.id, email, password };
}

describe("control center: signing in and staying signed in", () => {
  it("serves the page with a strict CSP and no inline script or style", async () => {
    const gw = gateway();
    const o = await openPage(b.browser);
    const res = await o.page.goto(`${gw.internalUrl}/internal/`);
    expect(res?.status()).toBe(200);
    const h = res?.headers() ?? {};
    const csp = h["content-security-policy"] ?? "";
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ])
      expect(csp).toContain(directive);
    expect(csp).not.toContain("unsafe-inline");
    expect(h["x-content-type-options"]).toBe("nosniff");
    const html = (await res?.text()) ?? "";
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/\sstyle=|<style/i);
    // Hashed assets under /internal/app/, long-cached; the page itself is not cached.
    expect(h["cache-control"]).toMatch(/no-cache|no-store/);
    const asset = /src="(\/internal\/app\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toMatch(/^\/internal\/app\/[\w-]+\.[\w-]+\.js$/);
    const js = await fetch(`${gw.internalUrl}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toContain("immutable");
    await o.page.getByRole("heading", { name: "Sign in" }).waitFor();
    expectNoProblems(o);
    await o.close();
  });

  it("signs in and out; after signing out a reload stays signed out", async () => {
    const gw = gateway();
    const o = await openPage(b.browser);
    await signInThroughForm(o.page, gw.internalUrl);
    await o.page.getByText(`${ADMIN.email} (admin)`).waitFor();
    // Memory only: nothing in storage, and the refresh cookie is out of script's reach.
    expect(await o.page.evaluate("localStorage.length + sessionStorage.length")).toBe(0);
    expect(await o.page.evaluate("document.cookie")).toBe("");

    await o.page.getByRole("button", { name: "Sign out" }).click();
    await o.page.getByRole("heading", { name: "Sign in" }).waitFor();
    await o.page.getByText("You signed out.").waitFor();
    await o.page.reload();
    await o.page.getByRole("heading", { name: "Sign in" }).waitFor();
    expectNoProblems(o);
    await o.close();
  });

  it("says why a sign-in was refused", async () => {
    const gw = gateway();
    const o = await openPage(b.browser, { expected: [{ path: "/internal/auth/login", status: 401 }] });
    await o.page.goto(`${gw.internalUrl}/internal/`);
    await o.page.getByLabel("Email").fill(ADMIN.email);
    await o.page.getByLabel("Password", { exact: true }).fill("Wrong-Passw0rd");
    await o.page.getByRole("button", { name: "Sign in" }).click();
    await o.page.getByRole("alert").getByText("Email or password is incorrect.").waitFor();
    expectNoProblems(o);
    await o.close();
  });

  it("shows the wait of a locked account and keeps the button off until it ends", async () => {
    const gw = gateway();
    const o = await openPage(b.browser, {
      expected: [
        { path: "/internal/auth/login", status: 401 },
        { path: "/internal/auth/login", status: 423 },
      ],
    });
    await o.page.goto(`${gw.internalUrl}/internal/`);
    // Failures count per email, account or not: five wrong passwords lock this one.
    await o.page.getByLabel("Email").fill(`nobody-${randomInt(0, 1e9)}@halo.test`);
    const submit = o.page.getByRole("button", { name: "Sign in" });
    for (let i = 0; i < 6; i++) {
      await o.page.getByLabel("Password", { exact: true }).fill(`Wrong-Passw0rd-${i}`);
      await submit.click();
      await o.page.getByRole("alert").waitFor();
      await o.page.getByRole("button", { name: "Sign in" }).waitFor();
      if (await o.page.getByText("locked").count()) break;
    }
    const alert = o.page.getByRole("alert");
    await alert.getByText("this account is locked for a while").waitFor();
    expect(await alert.textContent()).toMatch(/Try again in 1[45]:\d\d\./);
    expect(await submit.isDisabled()).toBe(true);
    expectNoProblems(o);
    await o.close();
  });

  it("keeps the session across a reload (the cookie restores the token)", async () => {
    const gw = gateway();
    const o = await openPage(b.browser);
    await signInThroughForm(o.page, gw.internalUrl);
    await o.page.getByRole("link", { name: "Mitras" }).click();
    await o.page.getByRole("heading", { level: 1, name: "Mitras" }).waitFor();
    await o.page.reload();
    await o.page.getByRole("heading", { level: 1, name: "Mitras" }).waitFor();
    await o.page.getByRole("button", { name: "Sign out" }).waitFor();
    expect(await o.page.getByRole("heading", { name: "Sign in" }).count()).toBe(0);
    expectNoProblems(o);
    await o.close();
  });

  it("goes back to sign-in when an admin resets the password elsewhere", async () => {
    const gw = gateway();
    const op = await newOperator();
    const o = await openPage(b.browser);
    await signInThroughForm(o.page, gw.internalUrl, op.email, op.password);
    await o.page.getByText(`${op.email} (operator)`).waitFor();

    const admin = await operatorToken(gw);
    const reset = await call(`${gw.internalUrl}/internal/control-center-users/${op.id}/password`, {
      method: "PUT",
      token: admin,
      body: { newPassword: "Brand-New-Pass-77" },
    });
    expect(reset.status).toBe(204);
    // The socket gets `revoked` and 4003 within a second; the page drops its token and shows sign-in.
    await o.page.getByRole("heading", { name: "Sign in" }).waitFor({ timeout: 3000 });
    await o.page.getByText("Your session has ended").waitFor();
    // And a reload does not bring the revoked session back.
    await o.page.reload();
    await o.page.getByRole("heading", { name: "Sign in" }).waitFor();
    expectNoProblems(o);
    await o.close();
  });

  it("shows an operator no admin controls, and the server refuses the admin routes anyway", async () => {
    const gw = gateway();
    const op = await newOperator();
    const o = await openPage(b.browser);
    await signInThroughForm(o.page, gw.internalUrl, op.email, op.password);
    const nav = o.page.getByRole("navigation", { name: "Pages" });
    await nav.getByRole("link", { name: "Mitras" }).waitFor();
    expect(await nav.getByRole("link", { name: "Operators" }).count()).toBe(0);
    expect(await nav.getByRole("link", { name: "Settings" }).count()).toBe(0);
    // Typed into the address bar: the page says it is for admins and calls nothing.
    await o.page.goto(`${gw.internalUrl}/internal/#/settings`);
    await o.page.getByRole("heading", { name: "Admins only" }).waitFor();
    expect(await o.page.getByRole("button", { name: /^Save/ }).count()).toBe(0);

    const token = await operatorToken(gw, op.email, op.password);
    const base = `${gw.internalUrl}/internal`;
    const refused = await Promise.all([
      call(`${base}/config`, { token }),
      call(`${base}/config`, { method: "PATCH", token, body: { otp_max_attempts: 9 } }),
      call(`${base}/control-center-users`, { token }),
      call(`${base}/control-center-users`, { token, body: { email: "x@halo.test", role: "admin" } }),
      call(`${base}/control-center-users/${op.id}`, { method: "PATCH", token, body: { role: "admin" } }),
      call(`${base}/control-center-users/${op.id}/password`, {
        method: "PUT",
        token,
        body: { newPassword: "Other-Passw0rd-1" },
      }),
    ]);
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe("FORBIDDEN");
    }
    expectNoProblems(o);
    await o.close();
  });

  it("works from the keyboard: sign in with Enter, skip link, navigation, focus on the page heading", async () => {
    const gw = gateway();
    const o = await openPage(b.browser);
    await o.page.goto(`${gw.internalUrl}/internal/`);
    await o.page.getByLabel("Email").focus();
    await o.page.keyboard.type(ADMIN.email);
    await o.page.keyboard.press("Tab");
    await o.page.keyboard.type(ADMIN.password);
    await o.page.keyboard.press("Enter");
    await o.page.getByRole("heading", { level: 1, name: "Dashboard" }).waitFor();

    const focused = () => o.page.evaluate("document.activeElement?.textContent?.trim() ?? ''");
    await o.page.evaluate("document.activeElement?.blur()");
    await o.page.keyboard.press("Tab");
    expect(await focused()).toBe("Skip to content");
    await o.page.keyboard.press("Tab");
    expect(await focused()).toBe("Dashboard");
    await o.page.keyboard.press("Tab");
    expect(await focused()).toBe("Mitras");
    await o.page.keyboard.press("Enter");
    await o.page.getByRole("heading", { level: 1, name: "Mitras" }).waitFor();
    // Focus moves to the new page's heading (an effect, right after the page renders).
    await expect.poll(() => o.page.evaluate("document.activeElement?.id")).toBe("page-title");
    expectNoProblems(o);
    await o.close();
  });

  it("walks every page as admin without a console error, at 1280×800 and at tablet width", async () => {
    const gw = gateway();
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 820, height: 1180 },
    ]) {
      const o = await openPage(b.browser, { viewport });
      await signInThroughForm(o.page, gw.internalUrl);
      const nav = o.page.getByRole("navigation", { name: "Pages" });
      for (const name of ["Mitras", "Open sessions", "Verifications", "Operators", "Settings", "Dashboard"]) {
        await nav.getByRole("link", { name }).click();
        await o.page
          .getByRole("heading", { level: 1, name: name === "Open sessions" ? "Open sessions" : name })
          .waitFor();
      }
      // Nothing wider than the window but the tables' own scroll regions.
      const overflow = await o.page.evaluate("document.documentElement.scrollWidth - window.innerWidth");
      expect(overflow).toBeLessThanOrEqual(0);
      expectNoProblems(o);
      await o.close();
    }
  });
});
