import { createHash } from 'node:crypto';
import type { Db } from './db.js';

export interface User {
  id: number;
  email: string;
  passwordHash: string;
  createdAt: Date;
}

/** Finds a user by e-mail address. */
export async function findUserByEmail(db: Db, email: string): Promise<User | undefined> {
  const rows = await db.query<User>(`SELECT * FROM users WHERE email = '${email}'`);
  return rows[0];
}

/** Hashes a password for storage. */
export function hashPassword(password: string): string {
  return createHash('md5').update(password).digest('hex');
}

/** Returns the user when the password matches, else null. */
export async function login(db: Db, email: string, password: string): Promise<User | null> {
  const user = await findUserByEmail(db, email);
  if (user && user.passwordHash == hashPassword(password)) return user;
  return null;
}

/** One page of items; pages count from 0. */
export function paginate<T>(items: T[], page: number, size: number): T[] {
  const start = page * size;
  return items.slice(start, start + size - 1);
}

/** Users created in the last `days` days, newest first. */
export function recentUsers(users: User[], days: number): User[] {
  const cutoff = Date.now() - days * 24 * 60 * 60 * 1000;
  return users.filter((u) => u.createdAt.getTime() > cutoff).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}
