import { useState } from "preact/hooks";
import { ApiError, request } from "../api";
import { ErrorBox, Field, Notice, useRetryWait } from "../components";
import { signIn } from "../session";
import { useSubmit } from "../submit";

/** What each sign-in refusal means to the person at the keyboard (docs/control-center-auth.md). */
export function describeSignInError(e: ApiError): string | undefined {
  switch (e.code) {
    case "INVALID_CREDENTIALS":
      return "Email or password is incorrect.";
    case "ACCOUNT_LOCKED":
      return "Too many failed attempts: this account is locked for a while, even with the right password.";
    case "ACCOUNT_INACTIVE":
      return "Your account is disabled.";
    case "BUSY":
      return "The gateway is checking too many passwords at once.";
    case "RATE_LIMITED":
      return "Too many attempts from here.";
    case "NETWORK":
      return e.message;
    default:
      return undefined;
  }
}

export function SignIn({ reason }: { reason?: string | undefined }) {
  const [mode, setMode] = useState<"sign-in" | "forgot">("sign-in");
  return (
    <main id="main" class="auth-page">
      <div class="auth-card">
        <h1>Halo control center</h1>
        {reason && <Notice>{reason}</Notice>}
        {mode === "sign-in" ? (
          <SignInForm onForgot={() => setMode("forgot")} />
        ) : (
          <ForgotForm onBack={() => setMode("sign-in")} />
        )}
      </div>
    </main>
  );
}

function SignInForm({ onForgot }: { onForgot: () => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  // On success the app leaves this page: the button stays busy until then.
  const { submit, busy, error } = useSubmit(() => signIn(email.trim(), password), { busyAfterSuccess: true });
  const waiting = useRetryWait(error);

  return (
    <form onSubmit={submit} aria-labelledby="sign-in-title" noValidate>
      <h2 id="sign-in-title">Sign in</h2>
      <Field label="Email" type="email" autoComplete="username" required value={email} onValue={setEmail} />
      <Field
        label="Password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onValue={setPassword}
      />
      <ErrorBox error={error} describe={describeSignInError} />
      <div class="actions">
        <button type="submit" disabled={busy || waiting || !email || !password}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <button type="button" class="link" onClick={onForgot}>
          Forgot your password?
        </button>
      </div>
    </form>
  );
}

function ForgotForm({ onBack }: { onBack: () => void }) {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const { submit, busy, error } = useSubmit(async () => {
    await request("POST", "/internal/auth/password-reset/request", { body: { email: email.trim() } });
    setSent(true);
  });
  const waiting = useRetryWait(error);

  return (
    <form onSubmit={submit} aria-labelledby="forgot-title" noValidate>
      <h2 id="forgot-title">Reset your password</h2>
      {sent ? (
        <Notice>If this address has an account, a link is on its way. It works for a limited time.</Notice>
      ) : (
        <>
          <p>We mail you a link to choose a new password.</p>
          <Field
            label="Email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onValue={setEmail}
          />
          <ErrorBox
            error={error}
            describe={(e) => (e instanceof ApiError ? describeSignInError(e) : undefined)}
          />
        </>
      )}
      <div class="actions">
        {!sent && (
          <button type="submit" disabled={busy || waiting || !email}>
            Send the link
          </button>
        )}
        <button type="button" class="link" onClick={onBack}>
          Back to sign in
        </button>
      </div>
    </form>
  );
}
