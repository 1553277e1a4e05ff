import { randomInt } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { TestGateway } from "../support/gateway.js";
import { ADMIN_ENV, call, newMitraPhone, operatorToken } from "../support/people.js";
import { useGateways } from "../support/setup.js";
import { expectNoProblems, openPage, signInThroughForm, useBrowser } from "./support/browser.js";

const ctx = useGateways({ env: { ...ADMIN_ENV, ENABLE_TEST_ROUTES: "true" } });
const gateway = (): TestGateway => ctx.gateways[0] as TestGateway;
const b = useBrowser();

describe("control center: admin pages", () => {
  it("shows the server's validation message for a tunable and saves a good value", async () => {
    const gw = gateway();
    const o = await openPage(b.browser, { expected: [{ path: "/internal/config", status: 400 }] });
    await signInThroughForm(o.page, gw.internalUrl);
    await o.page.getByRole("link", { name: "Settings" }).click();
    const field = o.page.getByLabel("otp_max_attempts");
    await field.fill("0");
    await o.page.getByRole("button", { name: /^Save/ }).click();
    await o.page.getByRole("alert").getByText("otp_max_attempts").waitFor();
    expect(await field.getAttribute("aria-invalid")).toBe("true");

    await field.fill("7");
    await o.page.getByRole("button", { name: /^Save/ }).click();
    await o.page.getByText("Saved otp_max_attempts.").waitFor();
    const config = await call(`${gw.internalUrl}/internal/config`, { token: await operatorToken(gw) });
    expect(config.body.otp_max_attempts).toBe(7);
    expectNoProblems(o);
    await o.close();
  });

  it("invites an operator, changes a role and sets a password", async () => {
    const gw = gateway();
    const o = await openPage(b.browser);
    await signInThroughForm(o.page, gw.internalUrl);
    await o.page.getByRole("link", { name: "Operators" }).click();
    const email = `ui-${randomInt(0, 1e9)}@halo.test`;
    await o.page.getByText("Invite an operator").click();
    await o.page.getByLabel("Email").fill(email);
    await o.page.getByRole("button", { name: "Send invitation" }).click();
    await o.page.getByText(`Invitation mailed to ${email}.`).waitFor();
    const row = o.page.locator(`tr[data-operator="${email}"]`);
    await row.getByText("Invited").waitFor();

    await row.getByLabel(`Role of ${email}`).selectOption("admin");
    await row.getByRole("button", { name: "Save role" }).click();
    await o.page.getByText(`${email} is now an admin.`).waitFor();

    await row.getByRole("button", { name: `Set password for ${email}` }).click();
    const dialog = o.page.getByRole("dialog", { name: `Set a password for ${email}` });
    await dialog.getByLabel("New password").fill("Forced-Passw0rd-3");
    await dialog.getByRole("button", { name: "Set password" }).click();
    await o.page.getByText(`New password set for ${email}`).waitFor();
    // The forced reset activated the invited account: it signs in with that password.
    await operatorToken(gw, email, "Forced-Passw0rd-3");
    expectNoProblems(o);
    await o.close();
  });

  it("creates a mitra, refuses a taken phone, and finds it by search and status", async () => {
    const gw = gateway();
    const o = await openPage(b.browser, { expected: [{ path: "/internal/mitras", status: 409 }] });
    await signInThroughForm(o.page, gw.internalUrl);
    await o.page.getByRole("link", { name: "Mitras" }).click();
    const phone = newMitraPhone();
    await o.page.getByText("Add a mitra").click();
    await o.page.getByLabel("Phone", { exact: true }).fill(phone);
    await o.page.getByLabel("Display name").fill("Rina Created");
    await o.page.getByRole("button", { name: "Add mitra" }).click();
    await o.page.getByText("Added Rina Created").waitFor();

    await o.page.getByLabel("Phone", { exact: true }).fill(phone);
    await o.page.getByLabel("Display name").fill("Rina Again");
    await o.page.getByRole("button", { name: "Add mitra" }).click();
    await o.page.locator(".field-error").first().waitFor();

    await o.page.getByLabel("Search by name or phone").fill(phone.slice(0, 8));
    await o.page.getByRole("rowheader", { name: "Rina Created" }).waitFor();
    await o.page.getByLabel("Status").selectOption("deactivated");
    await o.page.getByText("No mitra matches.").waitFor();
    await o.page.getByLabel("Status").selectOption("offline");
    await o.page.getByRole("rowheader", { name: "Rina Created" }).waitFor();
    expectNoProblems(o);
    await o.close();
  });

  it("lists open sessions and verifications", async () => {
    const gw = gateway();
    const o = await openPage(b.browser);
    await signInThroughForm(o.page, gw.internalUrl);
    await o.page.getByRole("link", { name: "Open sessions" }).click();
    await o.page.getByText("No open session.").waitFor();
    await o.page.getByRole("link", { name: "Verifications" }).click();
    await o.page.getByText("No verification matches.").waitFor();
    expectNoProblems(o);
    await o.close();
  });
});
