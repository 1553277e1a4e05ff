// Development shortcuts of the examples: configuration, logging, and the gateway's test routes
// (ENABLE_TEST_ROUTES=true; internal listener) that stand in for an operator and an SMS inbox.
// Nothing here is part of the SDK.
import { createInterface } from "node:readline/promises";

export const env = {
  HALO_URL: process.env.HALO_URL ?? "http://127.0.0.1:8080",
  HALO_INTERNAL_URL: process.env.HALO_INTERNAL_URL ?? "http://127.0.0.1:8081",
  MITRA_PHONE: process.env.MITRA_PHONE ?? "081200000001",
  EXAMPLE_EXIT_AFTER_SESSION: process.env.EXAMPLE_EXIT_AFTER_SESSION === "1",
};

const who = process.argv[1]?.split("/").pop()?.replace(".mjs", "") ?? "example";
export const log = (line) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${who}: ${line}`);

let testRoutes = true;

/** Creates the mitra through the test route (idempotent on phone). Without test routes an operator must have created it. */
export async function devSeedMitra(phone) {
  const res = await fetch(`${env.HALO_INTERNAL_URL}/internal/_test/seed-mitra`, {
    method: "POST",
    body: JSON.stringify({ phone, displayName: "Example Mitra" }),
  }).catch(() => null);
  if (res && (res.status === 200 || res.status === 201)) return;
  testRoutes = false;
  log(`no test routes at ${env.HALO_INTERNAL_URL}: ${phone} must be a mitra an operator created`);
}

/** The code the gateway "sent": from the test route, or typed in from the gateway's log (MAIL/OTP log provider). */
export async function devCodeFor(phone) {
  if (testRoutes) {
    const res = await fetch(`${env.HALO_INTERNAL_URL}/internal/_test/otp?phone=${encodeURIComponent(phone)}`);
    if (res.ok) return (await res.json()).code;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const code = await rl.question(`code sent to ${phone} (the gateway's log shows it): `);
  rl.close();
  return code.trim();
}
