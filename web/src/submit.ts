import { useState } from "preact/hooks";

/**
 * A form's submit handler around one request: the form is busy while `action` runs and shows
 * the error it failed with. With `busyAfterSuccess`, a form that leaves the page on success
 * (signing in) stays busy instead of re-enabling its button.
 */
export function useSubmit(action: () => Promise<void>, { busyAfterSuccess = false } = {}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
      if (!busyAfterSuccess) setBusy(false);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return { submit, busy, error };
}
