/** Small building blocks shared by the pages: labelled fields, alerts, waits, dialogs. */
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useId, useMemo, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";
import { formatCountdown, nowMs } from "./format";

interface InputProps {
  label: string;
  type?: "text" | "email" | "password" | "search" | "tel" | "number";
  autoComplete?: string;
  required?: boolean;
  placeholder?: string;
  min?: number;
  max?: number;
  disabled?: boolean;
  value: string;
  onValue: (v: string) => void;
  error?: string | undefined;
  hint?: string | undefined;
}

/** A labelled input; the server's message for it sits below, linked by aria-describedby. */
export function Field({ label, value, onValue, error, hint, ...rest }: InputProps) {
  const id = useId();
  const described = [hint ? `${id}-hint` : "", error ? `${id}-err` : ""].filter(Boolean).join(" ");
  // Preact types <input> as a union keyed by `type`; these props are valid for every type offered above.
  const input = {
    type: "text",
    ...rest,
    id,
    value,
    onInput: (e: Event) => onValue((e.currentTarget as HTMLInputElement).value),
    "aria-invalid": error ? "true" : undefined,
    "aria-describedby": described || undefined,
  } as JSX.IntrinsicElements["input"];
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input {...input} />
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={`${id}-err`}>
          {error}
        </p>
      )}
    </div>
  );
}

export function SelectField<T extends string>({
  label,
  value,
  onValue,
  options,
  disabled,
}: {
  label: string;
  value: T;
  onValue: (v: T) => void;
  options: readonly { value: T; label: string }[];
  disabled?: boolean;
}) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value}
        disabled={disabled}
        onChange={(e) => onValue((e.currentTarget as HTMLSelectElement).value as T)}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </div>
  );
}

/** Seconds left until `untilMs` (ticks with the clock). */
export function useSecondsLeft(untilMs: number): number {
  return Math.max(0, Math.ceil((untilMs - nowMs.value) / 1000));
}

/** An error from the gateway as the operator should read it; waits (BUSY, locks, limits) count down. */
export function ErrorBox({
  error,
  describe,
}: {
  error: unknown;
  describe?: (e: ApiError) => string | undefined;
}) {
  // Counted from when this error arrived: a new error starts a new countdown.
  const until = useMemo(() => retryUntil(error), [error]);
  const left = useSecondsLeft(until);
  if (!error) return null;
  const text =
    error instanceof ApiError ? (describe?.(error) ?? error.message) : "Something went wrong. Try again.";
  return (
    <div class="alert error" role="alert">
      <p>{text}</p>
      {until > 0 && (
        <p class="wait">{left > 0 ? `Try again in ${formatCountdown(left)}.` : "You can try again now."}</p>
      )}
    </div>
  );
}

/** Whether the wait a refusal asked for (retry-after) is still running, counted from when `error` arrived. */
export function useRetryWait(error: unknown): boolean {
  const until = useMemo(() => retryUntil(error), [error]);
  return useSecondsLeft(until) > 0;
}

/** When a refused request may be sent again (ms since the epoch; 0 when at once). */
export function retryUntil(error: unknown): number {
  return error instanceof ApiError && error.retryAfterSeconds
    ? Date.now() + error.retryAfterSeconds * 1000
    : 0;
}

export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <div class="alert info" role="status">
      {children}
    </div>
  );
}

/** A modal <dialog>: focus moves into it, Escape closes it, focus returns to the opener. */
export function Modal({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const d = ref.current;
    d?.showModal();
    return () => {
      d?.close();
      opener?.focus?.();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <div class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" class="secondary" onClick={onClose}>
          Close
        </button>
      </div>
      {children}
    </dialog>
  );
}

/** A table that scrolls sideways on a narrow screen; the region is focusable so the keyboard can scroll it. */
export function TableRegion({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (WCAG 2.1.1)
    <section class="table-wrap" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}

/** Previous / next over a keyset cursor: the cursors of the pages seen so far make "Previous" work. */
export function usePager() {
  const [stack, setStack] = useState<(string | undefined)[]>([undefined]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length,
    next: (c: string) => setStack((s) => [...s, c]),
    prev: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
    reset: () => setStack([undefined]),
  };
}

export function Pager({
  pager,
  nextCursor,
  label,
}: {
  pager: ReturnType<typeof usePager>;
  nextCursor: string | null | undefined;
  label: string;
}) {
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" class="secondary" disabled={pager.page <= 1} onClick={pager.prev}>
        Previous page
      </button>
      <span>Page {pager.page}</span>
      <button
        type="button"
        class="secondary"
        disabled={!nextCursor}
        onClick={() => nextCursor && pager.next(nextCursor)}
      >
        Next page
      </button>
    </nav>
  );
}
