import { useState } from "preact/hooks";
import { ApiError, request } from "../api";
import { ErrorBox, Field } from "../components";
import { type LinkPage as Kind, leaveLinkPage } from "../router";
import { establish } from "../session";
import type { SignedIn } from "../types";

/** Errors after which the link is spent: the token leaves the address bar too. */
const TERMINAL = new Set(["LINK_INVALID", "LINK_EXPIRED", "LINK_USED", "ACCOUNT_INACTIVE"]);

function describe(e: ApiError): string | undefined {
  switch (e.code) {
    case "LINK_INVALID":
      return "This link is no longer valid; ask for a new one.";
    case "LINK_EXPIRED":
      return "This link has expired; ask for a new one.";
    case "LINK_USED":
      return "This link was already used. Sign in with your password.";
    case "ACCOUNT_INACTIVE":
      return "Your account is disabled.";
    case "PASSWORD_POLICY":
      return "Choose another password (see below).";
    default:
      return undefined;
  }
}

/**
 * /internal/accept-invite?token=… and /internal/reset-password?token=…: choose
 * a password; a 200 is a sign-in (contract §9). After use the token leaves the
 * address bar (history.replaceState), and so it does once the link is spent.
 */
export function LinkPage({ kind }: { kind: Kind }) {
  const [token] = useState(() => new URLSearchParams(location.search).get("token") ?? "");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [spent, setSpent] = useState(false);
  const invite = kind === "accept-invite";
  const mismatch = confirm.length > 0 && confirm !== password;

  const submit = async (e: Event) => {
    e.preventDefault();
    if (mismatch) return;
    setBusy(true);
    setError(null);
    try {
      const res = invite
        ? await request<SignedIn>("POST", "/internal/auth/accept-invite", { body: { token, password } })
        : await request<SignedIn>("POST", "/internal/auth/password-reset/confirm", {
            body: { token, newPassword: password },
          });
      leaveLinkPage();
      establish(res);
    } catch (err) {
      setError(err);
      setBusy(false);
      if (err instanceof ApiError && TERMINAL.has(err.code)) {
        history.replaceState(null, "", location.pathname);
        setSpent(true);
      }
    }
  };

  const policy =
    error instanceof ApiError ? (error.issueFor("password") ?? error.issueFor("newPassword")) : undefined;
  return (
    <main id="main" class="auth-page">
      <div class="auth-card">
        <h1>Halo control center</h1>
        <form onSubmit={submit} aria-labelledby="link-title" noValidate>
          <h2 id="link-title">{invite ? "Accept your invitation" : "Choose a new password"}</h2>
          {!token && !spent ? (
            <div class="alert error" role="alert">
              <p>This link has no token. Open the link from the mail again.</p>
            </div>
          ) : spent ? null : (
            <>
              <p>
                {invite
                  ? "Choose a password to finish setting up your account. You are signed in right after."
                  : "Choose a new password. You are signed in right after, and signed out everywhere else."}
              </p>
              <Field
                label={invite ? "Password" : "New password"}
                type="password"
                autoComplete="new-password"
                required
                value={password}
                onValue={setPassword}
                error={policy}
                hint="At least 8 characters, with a digit, an upper-case and a lower-case letter."
              />
              <Field
                label="Repeat the password"
                type="password"
                autoComplete="new-password"
                required
                value={confirm}
                onValue={setConfirm}
                error={mismatch ? "The two passwords differ." : undefined}
              />
            </>
          )}
          <ErrorBox error={error} describe={describe} />
          <div class="actions">
            {!spent && token && (
              <button type="submit" disabled={busy || !password || password !== confirm}>
                {invite ? "Accept and sign in" : "Set password and sign in"}
              </button>
            )}
            <a class="button-link" href="/internal/">
              Go to sign in
            </a>
          </div>
        </form>
      </div>
    </main>
  );
}
