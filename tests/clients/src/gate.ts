// A fetch with a gate in front of the server: while the gate is closed every
// request waits at it, unsent, so a test can look at what a client shows
// before the server has even seen the operation (an optimistic answer), then
// open the gate and look again.
export class Gate {
  #closed = false;
  #opened: Promise<void> = Promise.resolve();
  #release: () => void = () => {};
  #arrived: () => void = () => {};

  /** Requests that waited at the gate so far. */
  held = 0;

  /**
   * Closes the gate; answers a promise of the next request to reach it,
   * which then waits, unsent, until `open`.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#opened = new Promise((release) => {
      this.#release = release;
    });
    return new Promise((arrived) => {
      this.#arrived = arrived;
    });
  }

  open(): void {
    this.#closed = false;
    this.#release();
  }

  readonly fetch: typeof fetch = async (input, init) => {
    if (this.#closed) {
      this.held += 1;
      this.#arrived();
      await this.#opened;
    }
    return fetch(input, init);
  };
}
