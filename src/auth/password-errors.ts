import { AppError } from "../errors.js";
import { passwordPolicyProblem } from "./password-policy.js";

/** Throws 400 PASSWORD_POLICY naming `field` when the password fails the contract §2 policy. */
export function assertPasswordPolicy(password: string, field: string): void {
  const problem = passwordPolicyProblem(password);
  if (problem) {
    throw new AppError("PASSWORD_POLICY", 400, `The password ${problem}`, {
      issues: [{ path: field, message: problem }],
    });
  }
}

/** Unknown email, wrong password and "no password yet" share one answer on purpose; the log says which. */
export const invalidCredentials = (): AppError =>
  new AppError("INVALID_CREDENTIALS", 401, "Email or password is incorrect");
