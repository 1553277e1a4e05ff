import type { HaloClient } from "../../../packages/client/src/node.js";
import { sdkCustomer, sleep } from "../../support/sdk.js";
import type { Deployment } from "./deployment.js";
import type { LoadMitra, SteadyLoad } from "./steady-load.js";

/**
 * What an operator and a user do during the fault: a logout-all (a
 * revocation) and a mitra's deactivation. Each is retried until the gateway
 * acknowledges it, as their apps would; once acknowledged it must hold.
 */
export class FaultProbes {
  /** The victim's access token from before its logout-all, once that was acknowledged. */
  revokedToken: string | null = null;
  deactivated: LoadMitra | null = null;
  /** The deactivated mitra's access token from before the deactivation. */
  deactivatedToken: string | null = null;
  private pending: Promise<void>[] = [];

  private constructor(
    private readonly deployment: Deployment,
    private readonly load: SteadyLoad,
    private readonly victim: HaloClient,
    private readonly ccToken: string,
  ) {}

  static async prepare(deployment: Deployment, load: SteadyLoad, ccToken: string): Promise<FaultProbes> {
    const victim = await sdkCustomer(deployment.url);
    await victim.socket.connect();
    return new FaultProbes(deployment, load, victim, ccToken);
  }

  /** Starts both (in the background: the fault may make them wait); `settled()` waits for them. */
  fire(): void {
    this.pending = [this.revoke(), this.deactivate()];
  }

  async settled(timeoutMs = 30_000): Promise<void> {
    await Promise.race([Promise.all(this.pending), sleep(timeoutMs)]);
  }

  /**
   * logout-all over HTTP, retried until the gateway answers 204. Not through
   * the SDK: its logoutAll() drops the tokens locally even when the call
   * failed (Postgres down), so a retry through it would be a no-op while the
   * server still holds the session.
   */
  private async revoke(): Promise<void> {
    const token = (await this.victim.auth.getAccessToken()).token;
    let sent = false;
    for (;;) {
      try {
        const res = await fetch(`${this.deployment.url}/api/shared/auth/logout-all`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
        });
        // A 401 after an attempt whose answer was lost (the process stopped mid-request, a
        // keep-alive connection closed under it) says that attempt committed: the token is refused.
        if (res.status === 204 || (res.status === 401 && sent)) {
          this.revokedToken = token;
          return;
        }
        this.load.fail("logout-all", { code: `HTTP ${res.status}` });
      } catch (err) {
        this.load.fail("logout-all", err);
      }
      sent = true;
      await sleep(300);
    }
  }

  private async deactivate(): Promise<void> {
    const m = this.load.mitras[this.load.mitras.length - 1] as LoadMitra;
    this.deactivatedToken = (await m.client.auth.getAccessToken()).token;
    this.deactivated = m;
    m.deactivationAskedAt = Date.now();
    for (;;) {
      try {
        const res = await fetch(`${this.deployment.internalUrl}/internal/mitras/${m.id}`, {
          method: "PATCH",
          headers: { "content-type": "application/json", authorization: `Bearer ${this.ccToken}` },
          body: JSON.stringify({ isActive: false }),
        });
        if (res.status === 200) {
          m.deactivatedAt = Date.now();
          return;
        }
        this.load.fail("deactivate", { code: `HTTP ${res.status}` });
      } catch (err) {
        this.load.fail("deactivate", err);
      }
      await sleep(300);
    }
  }
}
