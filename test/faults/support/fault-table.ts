import { appendFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    faultTable: string;
  }
}

/** One scenario's line of the fault table. */
export interface FaultRow {
  scenario: string;
  /** Requests the clients saw fail (every code; retried ones included). */
  failed: number;
  /** Client connections opened again after the first. */
  reconnected: number;
  /** From the end of the fault until `recoveredMeans` held (null: never, within the wait). */
  recoveryMs: number | null;
  recoveredMeans: string;
  /** Acknowledged messages, transitions, revocations and deactivations not found afterwards. */
  lost: number;
  /** Lowest (online count seen − mitras that should have been online); < 0 is a mass offline. */
  onlineMargin: number;
  note: string;
}

/** Appends a row to this run's table (printed whole when the run ends) and prints it now. */
export function recordRow(row: FaultRow): void {
  appendFileSync(inject("faultTable"), `${JSON.stringify(row)}\n`);
  console.log(`fault row: ${formatRows([row])}`);
}

/** A fresh table file for a run; `printTable` prints what the scenarios appended. */
export function newTableFile(): string {
  const file = join(tmpdir(), `halo-fault-table-${process.pid}.jsonl`);
  rmSync(file, { force: true });
  return file;
}

export function printTable(file: string): void {
  if (!existsSync(file)) return;
  const rows = readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FaultRow);
  rmSync(file, { force: true });
  console.log(`\nfault suite (${new Date().toISOString()}):\n${formatRows(rows)}\n`);
}

function formatRows(rows: FaultRow[]): string {
  const head = [
    "scenario",
    "failed",
    "reconnected",
    "recovery ms",
    "lost",
    "online margin",
    "recovered =",
    "note",
  ];
  const body = rows.map((r) => [
    r.scenario,
    String(r.failed),
    String(r.reconnected),
    r.recoveryMs === null ? "NOT RECOVERED" : String(r.recoveryMs),
    String(r.lost),
    String(r.onlineMargin),
    r.recoveredMeans,
    r.note,
  ]);
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...body.map(line)].join("\n");
}
