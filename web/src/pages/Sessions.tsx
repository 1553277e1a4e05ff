import { useState } from "preact/hooks";
import { query } from "../api";
import { SelectField } from "../components";
import { formatDateTime, formatDuration, nowMs, shortId } from "../format";
import { resettingPager, usePagedList } from "../lists";
import { PagedTable } from "../paged-table";
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
          onValue={resettingPager(setStatus, list.pager)}
        />
      </form>
      <PagedTable
        list={list}
        label="Open sessions"
        pagerLabel="Sessions"
        columns={["Session", "State", "Age", "Customer", "Mitra", "Created", "Paid", "Ends"]}
        empty="No open session."
        row={(s, data) => (
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
        )}
      />
    </>
  );
}
