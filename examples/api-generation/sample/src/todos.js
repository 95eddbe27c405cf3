/** @typedef {{ id: number, title: string, done: boolean, createdAt: string }} Todo */

/** An in-memory todo store. */
export class TodoStore {
  /** @type {Map<number, Todo>} */
  #todos = new Map();
  #nextId = 1;

  get size() {
    return this.#todos.size;
  }

  /** @returns {Todo[]} */
  list() {
    return [...this.#todos.values()];
  }

  /** @param {string} title @returns {Todo} */
  add(title) {
    const todo = { id: this.#nextId++, title, done: false, createdAt: new Date().toISOString() };
    this.#todos.set(todo.id, todo);
    return todo;
  }

  /** @param {number} id @returns {boolean} */
  remove(id) {
    return this.#todos.delete(id);
  }
}
