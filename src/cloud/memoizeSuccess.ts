/**
 * `load` run once and its result shared by every call, as long as it succeeds: a failure
 * (credentials, network) is not remembered, so the next call runs `load` again.
 */
export function memoizeSuccess<T>(load: () => Promise<T>): () => Promise<T> {
  let kept: Promise<T> | undefined;
  return () => {
    if (!kept) {
      const p = load();
      kept = p;
      p.catch(() => {
        if (kept === p) kept = undefined;
      });
    }
    return kept;
  };
}
