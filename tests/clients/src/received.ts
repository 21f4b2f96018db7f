// What a subscription delivered, for a test to take in order. The protocol
// has no acknowledgement of a `subscribe`: a test knows its subscription is
// listening only once an event it caused arrives, so each live test first
// acts (writes a post, likes one) until its own event comes (`listening`).

export class Received<T> {
  #items: T[] = [];
  #arrived: () => void = () => {};

  /** The subscription's `next`. */
  readonly push = (item: T): void => {
    this.#items.push(item);
    this.#arrived();
  };

  /** The next item, waiting for it up to `ms`. */
  async next(ms = 15_000): Promise<T> {
    const deadline = Date.now() + ms;
    while (this.#items.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`nothing arrived within ${ms} ms`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((done) => {
        this.#arrived = done;
        timer = setTimeout(done, left);
      });
      clearTimeout(timer);
    }
    return this.#items.shift()!;
  }

  /** What arrived and was not taken yet, taken. */
  take(): T[] {
    return this.#items.splice(0);
  }
}

/**
 * Repeats `act` until the event it caused arrives: `act` answers the key of
 * that event, `key` reads the key of an item. Then drops everything
 * received: the subscription listens, and events come in the order written,
 * so no event of an earlier act is still on its way.
 */
export async function listening<T>(
  received: Received<T>,
  act: () => Promise<string>,
  key: (item: T) => string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const expected = await act();
    const until = Date.now() + 1_000;
    for (;;) {
      const item = await received.next(until - Date.now()).catch(() => null);
      if (item === null) break;
      if (key(item) === expected) {
        received.take();
        return;
      }
    }
  }
  throw new Error('the subscription never delivered an event it was sent');
}
