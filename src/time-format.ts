/** Contract format: ISO-8601 UTC with milliseconds, or null when unset. */
export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}
