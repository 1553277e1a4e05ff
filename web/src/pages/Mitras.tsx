import { useEffect, useState } from "preact/hooks";
import { ApiError, newIdempotencyKey, query } from "../api";
import { ErrorBox, Field, Modal, Notice, SelectField } from "../components";
import { ago, formatDate, formatDateTime, nowMs } from "../format";
import { resettingPager, usePagedList } from "../lists";
import { PagedTable } from "../paged-table";
import { api } from "../session";
import { useSubmit } from "../submit";
import type { Mitra, MitraLogEntry } from "../types";

type StatusFilter = "" | "online" | "offline" | "available" | "deactivated";
const FILTERS: readonly { value: StatusFilter; label: string }[] = [
  { value: "", label: "All" },
  { value: "online", label: "Online" },
  { value: "available", label: "Available" },
  { value: "offline", label: "Offline" },
  { value: "deactivated", label: "Deactivated" },
];

const LOG_LABEL: Record<string, string> = {
  online: "Went online",
  offline: "Went offline",
  auto_offline: "Set offline (no heartbeat)",
  deactivated: "Deactivated",
  activated: "Activated",
};

export function Mitras() {
  const [status, setStatus] = useState<StatusFilter>("");
  const [typed, setTyped] = useState("");
  const [q, setQ] = useState("");
  const list = usePagedList<Mitra>(
    (cursor) => `/internal/mitras${query({ status, q, cursor, limit: 25 })}`,
    true,
  );
  const [logOf, setLogOf] = useState<Mitra | null>(null);
  const [confirmOf, setConfirmOf] = useState<Mitra | null>(null);
  const [editOf, setEditOf] = useState<Mitra | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);

  // Search as the operator types, once they pause.
  useEffect(() => {
    const t = setTimeout(() => {
      if (typed.trim() !== q) {
        setQ(typed.trim());
        list.pager.reset();
      }
    }, 300);
    return () => clearTimeout(t);
  }, [typed]);

  const setActive = async (m: Mitra, isActive: boolean) => {
    setRowError(null);
    try {
      const next = await api<Mitra>("PATCH", `/internal/mitras/${m.id}`, { body: { isActive } });
      list.replace((x) => x.id === m.id, next);
      void list.reload();
    } catch (err) {
      setRowError(err);
    }
  };

  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Mitras
      </h1>
      <CreateMitra onCreated={() => void list.reload()} />
      <form class="filters" aria-label="Find mitras" onSubmit={(e) => e.preventDefault()}>
        <Field
          label="Search by name or phone"
          type="search"
          value={typed}
          onValue={setTyped}
          placeholder="e.g. Sari or 0812"
        />
        <SelectField
          label="Status"
          value={status}
          options={FILTERS}
          onValue={resettingPager(setStatus, list.pager)}
        />
      </form>
      <PagedTable
        list={list}
        label="Mitras"
        actionError={rowError}
        columns={["Name", "Phone", "Status", "Last heartbeat", "Sessions", "Verified"]}
        actions
        empty="No mitra matches."
        row={(m, data) => (
          <tr key={m.id} data-mitra-id={m.id}>
            <th scope="row">{m.displayName}</th>
            <td class="mono">{m.phone}</td>
            <td>
              <StatusBadge m={m} />
            </td>
            <td data-heartbeat>
              {m.heartbeatAgeSeconds === null
                ? "never"
                : ago(m.heartbeatAgeSeconds + (nowMs.value - data.fetchedAt) / 1000)}
            </td>
            <td>
              {m.capacity} / {m.maxConcurrentSessions}
            </td>
            <td title={m.verifiedAt ? formatDateTime(m.verifiedAt) : undefined}>
              {m.verifiedAt ? formatDate(m.verifiedAt) : "no"}
            </td>
            <td class="row-actions">
              <button type="button" class="secondary" onClick={() => setLogOf(m)}>
                Status log<span class="visually-hidden"> of {m.displayName}</span>
              </button>
              <button type="button" class="secondary" onClick={() => setEditOf(m)}>
                Edit<span class="visually-hidden"> {m.displayName}</span>
              </button>
              {m.isActive ? (
                <button type="button" class="danger" onClick={() => setConfirmOf(m)}>
                  Deactivate<span class="visually-hidden"> {m.displayName}</span>
                </button>
              ) : (
                <button type="button" onClick={() => void setActive(m, true)}>
                  Activate<span class="visually-hidden"> {m.displayName}</span>
                </button>
              )}
            </td>
          </tr>
        )}
      />
      {logOf && <StatusLog mitra={logOf} onClose={() => setLogOf(null)} />}
      {editOf && (
        <EditMitra
          mitra={editOf}
          onClose={() => setEditOf(null)}
          onSaved={(next) => {
            list.replace((x) => x.id === next.id, next);
            setEditOf(null);
          }}
        />
      )}
      {confirmOf && (
        <Modal title={`Deactivate ${confirmOf.displayName}?`} onClose={() => setConfirmOf(null)}>
          <p>
            The mitra is signed out of the app at once, goes offline and gets no new sessions until activated
            again.
          </p>
          <div class="actions">
            <button
              type="button"
              class="danger"
              onClick={() => {
                const m = confirmOf;
                setConfirmOf(null);
                void setActive(m, false);
              }}
            >
              Deactivate
            </button>
            <button type="button" class="secondary" onClick={() => setConfirmOf(null)}>
              Cancel
            </button>
          </div>
        </Modal>
      )}
    </>
  );
}

function StatusBadge({ m }: { m: Mitra }) {
  if (!m.isActive) return <span class="badge deactivated">Deactivated</span>;
  if (!m.online) return <span class="badge offline">Offline</span>;
  return m.available ? (
    <span class="badge available">Online, available</span>
  ) : (
    <span class="badge online">Online, not available</span>
  );
}

function CreateMitra({ onCreated }: { onCreated: () => void }) {
  const [phone, setPhone] = useState("");
  const [name, setName] = useState("");
  const [max, setMax] = useState("1");
  const [key, setKey] = useState(newIdempotencyKey);
  const [created, setCreated] = useState<Mitra | null>(null);

  const { submit, busy, error } = useSubmit(async () => {
    setCreated(null);
    const m = await api<Mitra>("POST", "/internal/mitras", {
      body: { phone: phone.trim(), displayName: name.trim(), maxConcurrentSessions: Number(max) },
      idempotencyKey: key,
    });
    setCreated(m);
    setPhone("");
    setName("");
    setMax("1");
    setKey(newIdempotencyKey());
    onCreated();
  });
  const apiErr = error instanceof ApiError ? error : null;
  return (
    <details class="panel">
      <summary>Add a mitra</summary>
      <form onSubmit={submit} class="inline-form" noValidate>
        <Field
          label="Phone"
          type="tel"
          required
          value={phone}
          onValue={setPhone}
          placeholder="0812… or +62812…"
          error={
            apiErr?.code === "PHONE_TAKEN" || apiErr?.code === "INVALID_PHONE"
              ? apiErr.message
              : apiErr?.issueFor("phone")
          }
        />
        <Field
          label="Display name"
          required
          value={name}
          onValue={setName}
          error={apiErr?.issueFor("displayName")}
        />
        <Field
          label="Sessions at once"
          type="number"
          min={1}
          max={100}
          required
          value={max}
          onValue={setMax}
          error={apiErr?.issueFor("maxConcurrentSessions")}
        />
        <div class="actions">
          <button type="submit" disabled={busy || !phone || !name}>
            Add mitra
          </button>
        </div>
      </form>
      {apiErr && !["PHONE_TAKEN", "INVALID_PHONE", "VALIDATION_FAILED"].includes(apiErr.code) && (
        <ErrorBox error={error} />
      )}
      {created && (
        <Notice>
          Added {created.displayName} ({created.phone}). They sign in to the app with a code sent to that
          phone.
        </Notice>
      )}
    </details>
  );
}

function EditMitra({
  mitra,
  onClose,
  onSaved,
}: {
  mitra: Mitra;
  onClose: () => void;
  onSaved: (m: Mitra) => void;
}) {
  const [name, setName] = useState(mitra.displayName);
  const [max, setMax] = useState(String(mitra.maxConcurrentSessions));
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      onSaved(
        await api<Mitra>("PATCH", `/internal/mitras/${mitra.id}`, {
          body: { displayName: name.trim(), maxConcurrentSessions: Number(max) },
        }),
      );
    } catch (err) {
      setError(err);
    }
  };
  const apiErr = error instanceof ApiError ? error : null;
  return (
    <Modal title={`Edit ${mitra.displayName}`} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <Field label="Display name" value={name} onValue={setName} error={apiErr?.issueFor("displayName")} />
        <Field
          label="Sessions at once"
          type="number"
          min={1}
          max={100}
          value={max}
          onValue={setMax}
          error={apiErr?.issueFor("maxConcurrentSessions")}
        />
        {apiErr?.code !== "VALIDATION_FAILED" && <ErrorBox error={error} />}
        <div class="actions">
          <button type="submit">Save</button>
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}

function StatusLog({ mitra, onClose }: { mitra: Mitra; onClose: () => void }) {
  const [items, setItems] = useState<MitraLogEntry[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api<{ items: MitraLogEntry[] }>("GET", `/internal/mitras/${mitra.id}/log`).then(
      (r) => setItems(r.items),
      setError,
    );
  }, [mitra.id]);
  return (
    <Modal title={`Status log of ${mitra.displayName}`} onClose={onClose}>
      <ErrorBox error={error} />
      {items === null && !error && <p>Loading…</p>}
      {items && items.length === 0 && <p>No status change yet.</p>}
      {items && items.length > 0 && (
        <ol class="log">
          {items.map((e, i) => (
            <li key={`${e.at}-${i}`}>
              <time dateTime={e.at}>{formatDateTime(e.at)}</time>{" "}
              <span>{LOG_LABEL[e.status] ?? e.status}</span>
            </li>
          ))}
        </ol>
      )}
    </Modal>
  );
}
