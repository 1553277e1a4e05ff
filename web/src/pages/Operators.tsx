import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError, newIdempotencyKey } from "../api";
import { ErrorBox, Field, Modal, Notice, SelectField, TableRegion } from "../components";
import { formatDateTime } from "../format";
import { ColumnHeads } from "../paged-table";
import { api, currentUser } from "../session";
import { useSubmit } from "../submit";
import type { Operator, Role } from "../types";

const ROLES: readonly { value: Role; label: string }[] = [
  { value: "operator", label: "Operator" },
  { value: "admin", label: "Admin" },
];
const STATUS_LABEL: Record<string, string> = { active: "Active", invited: "Invited", disabled: "Disabled" };

/** Admin: the control-center accounts — invite, change a role, set a password (forced reset). */
export function Operators() {
  const [items, setItems] = useState<Operator[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [resetOf, setResetOf] = useState<Operator | null>(null);

  const load = useCallback(async () => {
    try {
      setItems((await api<{ items: Operator[] }>("GET", "/internal/control-center-users")).items);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Operators
      </h1>
      <Invite
        onInvited={(o) => {
          setNotice(`Invitation mailed to ${o.email}. The link is valid for a limited time.`);
          void load();
        }}
      />
      {notice && <Notice>{notice}</Notice>}
      <ErrorBox error={error} />
      <TableRegion label="Operators">
        <table>
          <ColumnHeads columns={["Email", "Role", "Status", "Created"]} actions />
          <tbody>
            {items?.map((o) => (
              <OperatorRow
                key={o.id}
                operator={o}
                onChanged={(next) => {
                  setItems((list) => list?.map((x) => (x.id === next.id ? { ...x, ...next } : x)) ?? null);
                  setNotice(`${next.email} is now ${next.role === "admin" ? "an admin" : "an operator"}.`);
                }}
                onReset={() => setResetOf(o)}
              />
            ))}
          </tbody>
        </table>
      </TableRegion>
      {resetOf && (
        <ForcedReset
          operator={resetOf}
          onClose={() => setResetOf(null)}
          onDone={() => {
            setNotice(
              `New password set for ${resetOf.email}; every session of that operator was signed out.`,
            );
            setResetOf(null);
            void load();
          }}
        />
      )}
    </>
  );
}

function OperatorRow({
  operator,
  onChanged,
  onReset,
}: {
  operator: Operator;
  onChanged: (o: Operator) => void;
  onReset: () => void;
}) {
  const [role, setRole] = useState<Role>(operator.role);
  const [error, setError] = useState<unknown>(null);
  const me = currentUser()?.id === operator.id;
  const save = async () => {
    setError(null);
    try {
      onChanged(
        await api<Operator>("PATCH", `/internal/control-center-users/${operator.id}`, { body: { role } }),
      );
    } catch (err) {
      setError(err);
    }
  };
  return (
    <tr data-operator={operator.email}>
      <th scope="row">
        {operator.email}
        {me && <span class="muted"> (you)</span>}
      </th>
      <td>
        <div class="row-inline">
          <SelectField label={`Role of ${operator.email}`} value={role} options={ROLES} onValue={setRole} />
          {role !== operator.role && (
            <button type="button" onClick={() => void save()}>
              Save role
            </button>
          )}
        </div>
        <ErrorBox error={error} />
      </td>
      <td>{STATUS_LABEL[operator.status] ?? operator.status}</td>
      <td>{formatDateTime(operator.createdAt)}</td>
      <td class="row-actions">
        <button type="button" class="secondary" onClick={onReset}>
          Set password<span class="visually-hidden"> for {operator.email}</span>
        </button>
      </td>
    </tr>
  );
}

function Invite({ onInvited }: { onInvited: (o: Operator) => void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("operator");
  const [key, setKey] = useState(newIdempotencyKey);
  const { submit, busy, error } = useSubmit(async () => {
    const o = await api<Operator>("POST", "/internal/control-center-users", {
      body: { email: email.trim(), role },
      idempotencyKey: key,
    });
    setEmail("");
    setKey(newIdempotencyKey());
    onInvited(o);
  });
  const apiErr = error instanceof ApiError ? error : null;
  return (
    <details class="panel">
      <summary>Invite an operator</summary>
      <form onSubmit={submit} class="inline-form" noValidate>
        <Field
          label="Email"
          type="email"
          required
          value={email}
          onValue={setEmail}
          error={apiErr?.code === "EMAIL_TAKEN" ? apiErr.message : apiErr?.issueFor("email")}
        />
        <SelectField label="Role" value={role} options={ROLES} onValue={setRole} />
        <div class="actions">
          <button type="submit" disabled={busy || !email}>
            Send invitation
          </button>
        </div>
      </form>
      {apiErr && !["EMAIL_TAKEN", "VALIDATION_FAILED"].includes(apiErr.code) && <ErrorBox error={error} />}
    </details>
  );
}

function ForcedReset({
  operator,
  onClose,
  onDone,
}: {
  operator: Operator;
  onClose: () => void;
  onDone: () => void;
}) {
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api("PUT", `/internal/control-center-users/${operator.id}/password`, {
        body: { newPassword: password },
      });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  const apiErr = error instanceof ApiError ? error : null;
  return (
    <Modal title={`Set a password for ${operator.email}`} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <p>Every session of this operator is signed out at once. Tell them the new password another way.</p>
        <Field
          label="New password"
          type="password"
          autoComplete="new-password"
          value={password}
          onValue={setPassword}
          error={apiErr?.issueFor("newPassword")}
          hint="At least 8 characters, with a digit, an upper-case and a lower-case letter."
        />
        {!apiErr?.issueFor("newPassword") && <ErrorBox error={error} />}
        <div class="actions">
          <button type="submit" class="danger" disabled={!password}>
            Set password
          </button>
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}
