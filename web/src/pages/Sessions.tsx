import { useState } from "preact/hooks";
import { query } from "../api";
import { ErrorBox, Pager, SelectField, TableRegion } from "../components";
import { formatDateTime, formatDuration, nowMs, shortId } from "../format";
import { usePagedList } from "../lists";
import type { OpenSession } from "../types";

type Filter = "" | "pending_payment" | "active";
const FILTERS: readonly { value: Filter; label: string }[] = [
  { value: "", label: "All open" },
  { value: "pending_payment", label: "Pending payment" },
  { value: "active", label: "Active" },
];
const STATE_LABEL: Record<string, string> = { pending_payment: "Pending payment", active: "Active" };

export function Sessions() {
  const [status, setStatus] = useState<Filter>("");
  const list = usePagedList<OpenSession>(
    (cursor) => `/internal/sessions${query({ status, cursor, limit: 50 })}`,
    true,
  );
  const data = list.data;
  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Open sessions
      </h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <SelectField
          label="State"
          value={status}
          options={FILTERS}
          onValue={(v) => {
            setStatus(v);
            list.pager.reset();
          }}
        />
      </form>
      <ErrorBox error={list.error} />
      <TableRegion label="Open sessions">
        <table>
          <thead>
            <tr>
              <th scope="col">Session</th>
              <th scope="col">State</th>
              <th scope="col">Age</th>
              <th scope="col">Customer</th>
              <th scope="col">Mitra</th>
              <th scope="col">Created</th>
              <th scope="col">Paid</th>
              <th scope="col">Ends</th>
            </tr>
          </thead>
          <tbody>
            {data?.items.map((s) => (
              <tr key={s.id}>
                <th scope="row" class="mono" title={s.id}>
                  {shortId(s.id)}
                </th>
                <td>
                  <span class={`badge ${s.status === "active" ? "available" : "pending"}`}>
                    {STATE_LABEL[s.status] ?? s.status}
                  </span>
                </td>
                <td>{formatDuration(s.ageSeconds + (nowMs.value - data.fetchedAt) / 1000)}</td>
                <td class="mono" title={s.customerId}>
                  {shortId(s.customerId)}
                </td>
                <td class="mono" title={s.mitraId}>
                  {shortId(s.mitraId)}
                </td>
                <td>{formatDateTime(s.createdAt)}</td>
                <td>{formatDateTime(s.paidAt)}</td>
                <td>{formatDateTime(s.expiresAt)}</td>
              </tr>
            ))}
            {data && data.items.length === 0 && (
              <tr>
                <td colSpan={8} class="empty">
                  No open session.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </TableRegion>
      <Pager pager={list.pager} nextCursor={data?.nextCursor} label="Sessions" />
    </>
  );
}
