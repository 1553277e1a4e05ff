import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api";
import { ErrorBox, Field, Notice, SelectField } from "../components";
import { api } from "../session";
import type { Tunables } from "../types";

/** What each app_config tunable does (contract §0, §2, §5, §9); unknown keys show their name only. */
const HELP: Record<string, string> = {
  otp_ttl_seconds: "How long a phone code is valid (seconds).",
  otp_max_attempts: "Wrong codes allowed per request.",
  otp_resend_cooldown_seconds: "Wait before a phone may get another code (seconds).",
  otp_max_per_phone_per_hour: "Codes per phone per hour.",
  otp_max_per_ip_per_hour: "Codes per client address per hour.",
  cc_max_failed_logins: "Failed sign-ins before an operator's email is locked.",
  cc_lockout_seconds: "How long a locked email stays locked (seconds).",
  cc_invite_ttl_hours: "How long an invitation link works (hours).",
  cc_reset_ttl_minutes: "How long a password-reset link works (minutes).",
  pairing_blast_size: "Mitras offered each customer request at once.",
  pairing_offer_ttl_seconds: "How long a mitra has to accept an offer (seconds).",
  pairing_max_wait_seconds: "How long a customer waits for a mitra before giving up (seconds).",
  session_minutes: "Length of a paid session (minutes).",
  payment_timeout_seconds: "Time to pay before a matched session lapses (seconds).",
  push_chat_preview: "Include chat text in push notifications.",
};

const YES_NO = [
  { value: "true", label: "Yes" },
  { value: "false", label: "No" },
] as const;

/** Admin: the app_config tunables; the server validates each key and names the bad ones. */
export function Settings() {
  const [saved, setSaved] = useState<Tunables | null>(null);
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const take = (t: Tunables) => {
    setSaved(t);
    setDraft(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, String(v)])));
  };
  useEffect(() => {
    api<Tunables>("GET", "/internal/config").then(take, setError);
  }, []);

  const changed = saved ? Object.keys(saved).filter((k) => draft[k] !== String(saved[k])) : [];
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!saved) return;
    setBusy(true);
    setError(null);
    setNotice(null);
    const patch: Record<string, unknown> = {};
    for (const k of changed) patch[k] = parseValue(draft[k] ?? "", saved[k]);
    try {
      take(await api<Tunables>("PATCH", "/internal/config", { body: patch }));
      setNotice(`Saved ${changed.join(", ")}. Every gateway process applies the change within 5 seconds.`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const apiErr = error instanceof ApiError ? error : null;
  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Settings
      </h1>
      <p class="muted">Tunables stored in the database (app_config). Only changed values are sent.</p>
      {!saved && <ErrorBox error={error} />}
      {saved && (
        <form onSubmit={submit} noValidate class="settings">
          <div class="settings-grid">
            {Object.keys(saved).map((k) =>
              typeof saved[k] === "boolean" ? (
                <div key={k}>
                  <SelectField
                    label={k}
                    value={draft[k] === "true" ? "true" : "false"}
                    options={YES_NO}
                    onValue={(v) => setDraft((d) => ({ ...d, [k]: v }))}
                  />
                  {HELP[k] && <p class="hint">{HELP[k]}</p>}
                  {apiErr?.issueFor(k) && <p class="field-error">{apiErr.issueFor(k)}</p>}
                </div>
              ) : (
                <Field
                  key={k}
                  label={k}
                  type={typeof saved[k] === "number" ? "number" : "text"}
                  value={draft[k] ?? ""}
                  onValue={(v) => setDraft((d) => ({ ...d, [k]: v }))}
                  hint={HELP[k]}
                  error={apiErr?.issueFor(k)}
                />
              ),
            )}
          </div>
          {apiErr && apiErr.issues.length > 0 && (
            <div class="alert error" role="alert">
              <p>The gateway refused {apiErr.issues.map((i) => i.path).join(", ")}: nothing was saved.</p>
            </div>
          )}
          {apiErr && apiErr.issues.length === 0 && <ErrorBox error={error} />}
          {notice && <Notice>{notice}</Notice>}
          <div class="actions">
            <button type="submit" disabled={busy || changed.length === 0}>
              Save {changed.length > 0 ? `(${changed.length})` : ""}
            </button>
            <button
              type="button"
              class="secondary"
              disabled={changed.length === 0}
              onClick={() => take(saved)}
            >
              Discard changes
            </button>
          </div>
        </form>
      )}
    </>
  );
}

/** The typed value for the key's current type; text the server must judge goes as typed. */
function parseValue(text: string, current: unknown): unknown {
  const t = text.trim();
  if (typeof current === "number") return t !== "" && Number.isFinite(Number(t)) ? Number(t) : t;
  if (typeof current === "boolean") return t === "true" ? true : t === "false" ? false : t;
  return text;
}
