/**
 * Runs async tasks one at a time, in the order given: the file backend's way of making
 * read-modify-write operations atomic within a process.
 *
 * @example
 * ```ts
 * const queue = new SerialQueue();
 * const a = queue.run(async () => 1);
 * const b = queue.run(async () => 2); // starts after `a` settles
 * ```
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Queues `task`; the returned promise settles with its result. A failing task does not stop the queue. */
  run<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
