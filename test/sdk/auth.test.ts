import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { KeyValueTokenStore, type SignedOut } from "../../packages/client/src/node.js";
import type { TestGateway } from "../support/gateway.js";
import { setTunables } from "../support/pairing.js";
import { call, newMitraPhone } from "../support/people.js";
import { closeClients, sdkClient, sdkCustomer } from "../support/sdk.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";

const ctx = useGateways({ env: { ...QUIET_SWEEPS, ENABLE_TEST_ROUTES: "true" } });
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

beforeAll(async () => {
  await setTunables(ctx.gateways, { otp_max_per_ip_per_hour: 100_000 });
});
afterEach(() => closeClients());

const codeFor = async (phone: string): Promise<string> =>
  (await call(`${gw().internalUrl}/internal/_test/otp?phone=${encodeURIComponent(phone)}`)).body.code;

describe("signing in and out with the SDK", () => {
  it("an anonymous customer who verifies a phone keeps its identity (linked), and the tokens land in the store", async () => {
    const kv = new Map<string, string>();
    const storage = {
      getItem: (k: string) => kv.get(k) ?? null,
      setItem: (k: string, v: string) => void kv.set(k, v),
      removeItem: (k: string) => void kv.delete(k),
    };
    const customer = await sdkCustomer(gw().publicUrl, { store: new KeyValueTokenStore(storage) });
    const anonymous = await customer.auth.user();
    expect(anonymous).toMatchObject({ type: "customer", isAnonymous: true });
    const phone = newMitraPhone();
    const { requestId, resendAfterSeconds } = await customer.auth.requestOtp("customer", phone);
    expect(resendAfterSeconds).toBeGreaterThan(0);
    await expect(customer.auth.verifyOtp("customer", requestId, "000000")).rejects.toMatchObject({
      code: "CODE_MISMATCH",
      status: 400,
      attemptsRemaining: expect.any(Number),
    });
    const linked = await customer.auth.verifyOtp("customer", requestId, await codeFor(phone));
    expect(linked.user).toMatchObject({ id: anonymous?.id, isAnonymous: false });
    expect(JSON.parse(kv.get("halo.session") as string).refreshToken).toBe(linked.refreshToken);
    // A second client reading the same storage is signed in as that customer.
    const again = sdkClient(gw().publicUrl, { store: new KeyValueTokenStore(storage) });
    expect((await again.auth.me()).id).toBe(anonymous?.id);
  });

  it("a request refused with retryAfterSeconds says so in the error", async () => {
    const customer = sdkClient(gw().publicUrl);
    const phone = newMitraPhone();
    await customer.auth.requestOtp("customer", phone);
    await expect(customer.auth.requestOtp("customer", phone)).rejects.toMatchObject({
      code: "RESEND_COOLDOWN",
      status: 429,
      retryAfterSeconds: expect.any(Number),
    });
  });

  it("logout revokes the session on the server, drops the tokens, and stops the socket", async () => {
    const customer = await sdkCustomer(gw().publicUrl);
    const hello = await customer.socket.connect();
    const token = (await customer.auth.current())?.accessToken as string;
    const signedOut: SignedOut[] = [];
    customer.auth.on("signedOut", (s) => signedOut.push(s));
    await customer.auth.logout();
    expect(signedOut.map((s) => s.reason)).toEqual(["LOGGED_OUT"]);
    expect(customer.socket.state).toBe("stopped");
    expect(await customer.auth.current()).toBeNull();
    const r = await call(`${gw().publicUrl}/api/client/auth/me`, { token });
    expect(r.body.error.code).toBe("SESSION_REVOKED");
    expect(hello.userType).toBe("customer");
  });
});
