import { randomInt } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { ADMIN_ENV, call, operatorToken } from "../support/people.js";
import { useGateways } from "../support/setup.js";
import { expectNoProblems, openPage, signInThroughForm, useBrowser } from "./support/browser.js";

const ctx = useGateways({ env: { ...ADMIN_ENV, ENABLE_TEST_ROUTES: "true" } });
const gateway = (): TestGateway => ctx.gateways[0] as TestGateway;
const b = useBrowser();

/** The last link mailed to `email` (the mail leaves just after the response that caused it). */
async function mailedLink(email: string, kind: "accept-invite" | "reset-password"): Promise<string> {
  const gw = gateway();
  let link = "";
  await waitFor(async () => {
    const res = await call(`${gw.internalUrl}/internal/_test/mail?to=${encodeURIComponent(email)}`);
    link = res.status === 200 ? (res.body.link as string) : "";
    return link.includes(`/${kind}?token=`);
  }, 5000);
  return link;
}

describe("control center: links that sign an operator in", () => {
  const email = `invited-${randomInt(0, 1e9)}@halo.test`;

  it("accepts an invitation from the mailed link and lands signed in, the token gone from the address bar", async () => {
    const gw = gateway();
    const invited = await call(`${gw.internalUrl}/internal/control-center-users`, {
      token: await operatorToken(gw),
      body: { email, role: "operator" },
    });
    expect(invited.status).toBe(201);
    expect(invited.body.status).toBe("invited");
    const link = await mailedLink(email, "accept-invite");

    const o = await openPage(b.browser, {
      expected: [{ path: "/internal/auth/accept-invite", status: 400 }],
    });
    const res = await o.page.goto(link);
    expect(res?.headers()["referrer-policy"]).toBe("no-referrer");
    await o.page.getByRole("heading", { name: "Accept your invitation" }).waitFor();

    // A password the policy refuses: the server's message sits by the field, and the link still works.
    await o.page.getByLabel("Password", { exact: true }).fill("password");
    await o.page.getByLabel("Repeat the password").fill("password");
    await o.page.getByRole("button", { name: "Accept and sign in" }).click();
    await o.page.locator(".field-error").first().waitFor();
    expect(o.page.url()).toContain("token=");

    await o.page.getByLabel("Password", { exact: true }).fill("Invited-Passw0rd-8");
    await o.page.getByLabel("Repeat the password").fill("Invited-Passw0rd-8");
    await o.page.getByRole("button", { name: "Accept and sign in" }).click();
    await o.page.getByRole("heading", { level: 1, name: "Dashboard" }).waitFor();
    await o.page.getByText(`${email} (operator)`).waitFor();
    expect(o.page.url()).toBe(`${gw.internalUrl}/internal/#/`);
    expect(o.page.url()).not.toContain("token");

    // Signed in for real: a reload keeps the session.
    await o.page.reload();
    await o.page.getByRole("heading", { level: 1, name: "Dashboard" }).waitFor();
    expectNoProblems(o);
    await o.close();

    // The link is spent: opening it again says so and drops the token.
    const again = await openPage(b.browser, {
      expected: [{ path: "/internal/auth/accept-invite", status: 409 }],
    });
    await again.page.goto(link);
    await again.page.getByLabel("Password", { exact: true }).fill("Another-Passw0rd-9");
    await again.page.getByLabel("Repeat the password").fill("Another-Passw0rd-9");
    await again.page.getByRole("button", { name: "Accept and sign in" }).click();
    await again.page.getByText("This link was already used").waitFor();
    expect(again.page.url()).not.toContain("token");
    expectNoProblems(again);
    await again.close();
  });

  it("resets a forgotten password from the mailed link: signed in here, signed out elsewhere", async () => {
    const gw = gateway();
    // Elsewhere: a browser where this operator is signed in with the old password.
    const elsewhere = await openPage(b.browser);
    await signInThroughForm(elsewhere.page, gw.internalUrl, email, "Invited-Passw0rd-8");

    const o = await openPage(b.browser);
    await o.page.goto(`${gw.internalUrl}/internal/`);
    await o.page.getByRole("button", { name: "Forgot your password?" }).click();
    await o.page.getByLabel("Email").fill(email);
    await o.page.getByRole("button", { name: "Send the link" }).click();
    await o.page.getByText("If this address has an account, a link is on its way.").waitFor();

    const link = await mailedLink(email, "reset-password");
    await o.page.goto(link);
    await o.page.getByRole("heading", { name: "Choose a new password" }).waitFor();
    await o.page.getByLabel("New password", { exact: true }).fill("Reset-Passw0rd-11");
    await o.page.getByLabel("Repeat the password").fill("Reset-Passw0rd-11");
    await o.page.getByRole("button", { name: "Set password and sign in" }).click();
    await o.page.getByRole("heading", { level: 1, name: "Dashboard" }).waitFor();
    expect(o.page.url()).not.toContain("token");

    await elsewhere.page.getByRole("heading", { name: "Sign in" }).waitFor({ timeout: 3000 });
    await elsewhere.page.getByText("Your session has ended").waitFor();
    expectNoProblems(o);
    expectNoProblems(elsewhere);
    await o.close();
    await elsewhere.close();
  });
});
