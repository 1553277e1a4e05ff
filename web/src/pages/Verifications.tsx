import { useState } from "preact/hooks";
import { query } from "../api";
import { SelectField } from "../components";
import { formatDateTime, shortId } from "../format";
import { resettingPager, usePagedList } from "../lists";
import { PagedTable } from "../paged-table";
import type { Verification } from "../types";

type Filter = "" | "in_progress" | "approved" | "denied" | "suspected" | "expired";
const FILTERS: readonly { value: Filter; label: string }[] = [
  { value: "", label: "All" },
  { value: "in_progress", label: "In progress" },
  { value: "approved", label: "Approved" },
  { value: "denied", label: "Denied" },
  { value: "suspected", label: "Suspected" },
  { value: "expired", label: "Expired" },
];
const LABEL: Record<string, string> = Object.fromEntries(
  FILTERS.filter((f) => f.value).map((f) => [f.value, f.label]),
);

export function Verifications() {
  const [status, setStatus] = useState<Filter>("");
  const list = usePagedList<Verification>(
    (cursor) => `/internal/verifications${query({ status, cursor, limit: 50 })}`,
    false,
  );
  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Verifications
      </h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <SelectField
          label="Status"
          value={status}
          options={FILTERS}
          onValue={resettingPager(setStatus, list.pager)}
        />
        <div class="actions">
          <button type="button" class="secondary" onClick={() => void list.reload()}>
            Reload
          </button>
        </div>
      </form>
      <PagedTable
        list={list}
        label="Verifications"
        columns={["Mitra", "Status", "Reason", "Provider", "Re-issued", "Expires", "Started", "Updated"]}
        empty="No verification matches."
        row={(v) => (
          <tr key={v.id}>
            <th scope="row" class="mono" title={v.mitraId}>
              {shortId(v.mitraId)}
            </th>
            <td>
              <span class={`badge v-${v.status}`}>{LABEL[v.status] ?? v.status}</span>
            </td>
            <td>{v.reason ?? "—"}</td>
            <td>{v.provider}</td>
            <td>{v.recreateCount}</td>
            <td>{formatDateTime(v.expiresAt)}</td>
            <td>{formatDateTime(v.createdAt)}</td>
            <td>{formatDateTime(v.updatedAt)}</td>
          </tr>
        )}
      />
    </>
  );
}
