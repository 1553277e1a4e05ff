import { type HaloAuth, side } from "./auth.js";
import { ClientCode, HaloError } from "./errors.js";
import type { HaloSocket } from "./socket.js";
import type { PushDevice } from "./token-store.js";

/**
 * The device's push token on the gateway (contract §11): one per auth
 * session, registered with `POST …/devices`, removed with `DELETE
 * …/devices/current`, and by the gateway itself when the session ends
 * (logout, revocation). The token is kept with the session
 * (StoredSession.pushDevice); one not registered yet — a POST that failed on
 * the way, or a sign-in that replaced the session — is registered on the
 * next sign-in or the socket's next `hello`. Calls run one at a time, so a
 * DELETE never overtakes the POST before it.
 */
export class PushDevices {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly auth: HaloAuth,
    socket: HaloSocket,
  ) {
    auth.on("tokens", () => void this.registerPending());
    socket.on("hello", () => void this.registerPending());
  }

  /** Registers `device` for this session (the same token again is harmless; a new one replaces it). */
  register(device: PushDevice): Promise<void> {
    const { platform, token } = device;
    return this.serial(() => this.send({ platform, token }, this.auth.sessionEpoch));
  }

  /** Removes this session's token from the gateway; signed out, there is nothing to remove. */
  unregister(): Promise<void> {
    return this.serial(async () => {
      const epoch = this.auth.sessionEpoch;
      const user = await this.auth.user();
      if (!user) return;
      // Forgotten first: a hello meanwhile must not register it again.
      await this.auth.keepPushDevice(null, epoch);
      await this.auth.call("DELETE", `${devicesPath(user.type)}/current`);
    });
  }

  private registerPending(): Promise<void> {
    return this.serial(async () => {
      const epoch = this.auth.sessionEpoch;
      const device = await this.auth.pushDevice();
      if (device && !device.registered) await this.send(device, epoch);
    }).catch(() => {
      // Kept as not registered: the next hello or sign-in tries again.
    });
  }

  private async send(device: PushDevice, epoch: number): Promise<void> {
    const { platform, token } = device;
    const user = await this.auth.user();
    if (!user) throw new HaloError(ClientCode.notSignedIn, "Not signed in");
    await this.auth.keepPushDevice({ platform, token, registered: false }, epoch);
    try {
      await this.auth.call("POST", devicesPath(user.type), { body: { platform, token } });
    } catch (err) {
      // A token the gateway refuses (VALIDATION_FAILED) is not tried again on every hello.
      if (!(err instanceof HaloError && err.retryable)) await this.auth.keepPushDevice(null, epoch);
      throw err;
    }
    await this.auth.keepPushDevice({ platform, token, registered: true }, epoch);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }
}

const devicesPath = (userType: string): string => `/api/${side(userType)}/devices`;
