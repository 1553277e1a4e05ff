import type { ComponentChildren } from "preact";
import { ErrorBox, Pager, TableRegion } from "./components";
import type { Loaded, PagedList } from "./lists";

/** Column headers; `actions` adds a last, visually hidden "Actions" column for row buttons. */
export function ColumnHeads({ columns, actions = false }: { columns: readonly string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
        {actions && (
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        )}
      </tr>
    </thead>
  );
}

/**
 * One page of a `usePagedList` as a table: the list's error, the scrollable table (a row per
 * item, or `empty` when the page has none) and the pager under it.
 */
export function PagedTable<T>({
  list,
  label,
  pagerLabel = label,
  columns,
  actions = false,
  empty,
  row,
  actionError,
}: {
  list: PagedList<T>;
  /** The table region's accessible name. */
  label: string;
  /** Names the pager ("<pagerLabel> pages"); the table's label by default. */
  pagerLabel?: string;
  columns: readonly string[];
  actions?: boolean;
  /** What the table says when the page is empty. */
  empty: string;
  row: (item: T, data: Loaded<T>) => ComponentChildren;
  /** An error to show under the list's own (a failed row action). */
  actionError?: unknown;
}) {
  const data = list.data;
  return (
    <>
      <ErrorBox error={list.error} />
      <ErrorBox error={actionError} />
      <TableRegion label={label}>
        <table>
          <ColumnHeads columns={columns} actions={actions} />
          <tbody>
            {data?.items.map((item) => row(item, data))}
            {data && data.items.length === 0 && (
              <tr>
                <td colSpan={columns.length + (actions ? 1 : 0)} class="empty">
                  {empty}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </TableRegion>
      <Pager pager={list.pager} nextCursor={data?.nextCursor} label={pagerLabel} />
    </>
  );
}
