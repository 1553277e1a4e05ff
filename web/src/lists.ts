import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { usePager } from "./components";
import { connectedEpoch, onCounts } from "./live";
import { api } from "./session";
import type { Page } from "./types";

export interface Loaded<T> {
  items: T[];
  nextCursor: string | null;
  /** When the answer arrived (ms): ages the server gave grow from here. */
  fetchedAt: number;
}

/**
 * One page of a cursor-paged list. With `live`, the page reloads (at most once
 * a second) whenever the gateway pushes new counts, and after a reconnect: a
 * mitra going online or a session opening shows without a click.
 */
export function usePagedList<T>(url: (cursor: string | undefined) => string, live: boolean) {
  const pager = usePager();
  const [data, setData] = useState<Loaded<T> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const seq = useRef(0);
  const path = url(pager.cursor);

  const load = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const page = await api<Page<T>>("GET", path);
      if (mine !== seq.current) return;
      setData({ items: page.items, nextCursor: page.nextCursor, fetchedAt: Date.now() });
      setError(null);
    } catch (err) {
      if (mine === seq.current) setError(err);
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, [path]);

  useEffect(() => {
    void load();
  }, [load]);

  useEffect(() => {
    if (!live) return;
    let last = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poke = () => {
      if (timer) return;
      const wait = Math.max(0, last + 1000 - Date.now());
      timer = setTimeout(() => {
        timer = undefined;
        last = Date.now();
        void load();
      }, wait);
    };
    const offCounts = onCounts(poke);
    let first = true;
    const offEpoch = connectedEpoch.subscribe(() => {
      if (first) first = false;
      else poke();
    });
    return () => {
      offCounts();
      offEpoch();
      clearTimeout(timer);
    };
  }, [load, live]);

  /** Replaces one item in place (the answer of a PATCH) without waiting for a reload. */
  const replace = (match: (t: T) => boolean, next: T) =>
    setData((d) => (d ? { ...d, items: d.items.map((t) => (match(t) ? next : t)) } : d));

  return { pager, data, error, loading, reload: load, replace };
}

export type PagedList<T> = ReturnType<typeof usePagedList<T>>;

/** A filter's setter that also goes back to the first page (a new filter, a new list). */
export function resettingPager<V>(set: (v: V) => void, pager: { reset: () => void }) {
  return (v: V) => {
    set(v);
    pager.reset();
  };
}
