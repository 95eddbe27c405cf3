/**
 * The environment variables opencode-flow reads, mapped to options in this one place for
 * every surface that reads them (`run`, `resume`, `serve`, `flows`, `cost`): a variable set but
 * empty counts as unset.
 *
 * @example
 * ```ts
 * const { serverUrl, password, username, memory } = optionsFromEnv(process.env);
 * ```
 */
export function optionsFromEnv(env: Record<string, string | undefined> = process.env): {
  /** `OPENCODE_SERVER_URL`: attach to this OpenCode server instead of starting one. */
  serverUrl?: string;
  /** `OPENCODE_SERVER_PASSWORD`: its basic-auth password. */
  password?: string;
  /** `OPENCODE_SERVER_USERNAME`: its basic-auth user (OpenCode's default `opencode`). */
  username?: string;
  /** `OPENCODE_FLOW_MEMORY`: the memory URI. */
  memory?: string;
  /** `OPENCODE_FLOW_TOKEN`: the bearer token `serve` requires. */
  token?: string;
  /** `OPENCODE_FLOW_STORE`: the flow store URI. */
  store?: string;
} {
  // Each variable by its own name, so a search of the source finds every one it reads.
  const out = {
    serverUrl: env.OPENCODE_SERVER_URL || undefined,
    password: env.OPENCODE_SERVER_PASSWORD || undefined,
    username: env.OPENCODE_SERVER_USERNAME || undefined,
    memory: env.OPENCODE_FLOW_MEMORY || undefined,
    token: env.OPENCODE_FLOW_TOKEN || undefined,
    store: env.OPENCODE_FLOW_STORE || undefined,
  };
  return Object.fromEntries(Object.entries(out).filter(([, x]) => x !== undefined));
}
