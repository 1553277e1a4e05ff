import { OtpService } from "../../auth/otp.js";
import { LogOtpProvider } from "../../auth/otp-provider.js";
import type { Services } from "../../services.js";

/**
 * One OtpService per gateway, shared by the customer, mitra and test route
 * groups: the test route reads the provider's memory of the codes the other
 * two sent. Keyed by the Services object, so two gateways in one process
 * (tests) never share codes.
 */
const perGateway = new WeakMap<Services, OtpService>();

export function otpServiceOf(s: Services): OtpService {
  let otp = perGateway.get(s);
  if (!otp) {
    otp = new OtpService({
      pool: s.pool,
      crypto: s.crypto,
      appConfig: s.appConfig,
      now: s.now,
      // Codes are remembered only where the test route can read them.
      provider: new LogOtpProvider(s.log, s.config.ENABLE_TEST_ROUTES),
      defaultCountryCode: s.config.DEFAULT_COUNTRY_CODE,
    });
    perGateway.set(s, otp);
  }
  return otp;
}
