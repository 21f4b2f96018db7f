// What a screen bound to an Apollo watched query shows: now, and next.
import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';

import type { ObservableQuery, OperationVariables } from '@apollo/client';

/** What a watched query shows now; whole, not partial. */
export function shown<T, V extends OperationVariables>(query: ObservableQuery<T, V>): T {
  const result = query.getCurrentResult();
  if (result.dataState !== 'complete') throw new Error(`the query's data is ${result.dataState}`);
  return result.data;
}

/** The watched query's first whole result. */
export async function loaded<T, V extends OperationVariables>(query: ObservableQuery<T, V>): Promise<T> {
  const first = await firstValueFrom(query.pipe(filter((r) => r.dataState === 'complete')));
  return first.data as T;
}

/**
 * What a watched query shows next, as a screen re-renders: its next whole
 * result with other data than now. Call it before `fetchMore`, `refetch` or
 * `mutate`, which resolve before the query emits the new data.
 */
export async function next<T, V extends OperationVariables>(query: ObservableQuery<T, V>): Promise<T> {
  const now = query.getCurrentResult().data;
  const changed = firstValueFrom(
    query.pipe(filter((r) => r.dataState === 'complete' && r.data !== now)),
  );
  // A liveness guard, not a speed check: without a merging field policy
  // (or a cache write that reaches the query) the watched query never changes.
  let guard: NodeJS.Timeout | undefined;
  const never = new Promise<never>((_, fail) => {
    guard = setTimeout(
      () => fail(new Error('the watched query never showed the new data (are pages merged?)')),
      30_000,
    );
  });
  try {
    await Promise.race([changed, never]);
  } finally {
    clearTimeout(guard);
  }
  return shown(query);
}
