import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The package OpenCode installs into its config dir before it loads any plugin. */
const PLUGIN_PACKAGE = '@opencode-ai/plugin';

/** OpenCode's user config dir for an environment (`$XDG_CONFIG_HOME/opencode`, else `~/.config/opencode`). */
export function opencodeConfigDir(env: Record<string, string | undefined> = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'opencode');
}

/**
 * True when OpenCode's config dir already has its plugin package recorded as installed. When
 * a config names any plugin, OpenCode (1.18) first waits for `npm install @opencode-ai/plugin`
 * into that dir: minutes on a slow network, and no answer at all offline. A plugin is only
 * worth adding where that wait is not.
 *
 * @example
 * ```ts
 * if (opencodePluginDepsReady({ HOME: '/tmp/h' })) config.plugin = [url];
 * ```
 */
export function opencodePluginDepsReady(env: Record<string, string | undefined> = process.env): boolean {
  const dir = opencodeConfigDir(env);
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    return Boolean(pkg.dependencies?.[PLUGIN_PACKAGE]) && existsSync(join(dir, 'node_modules'));
  } catch {
    return false;
  }
}

/**
 * Record OpenCode's plugin package as installed in a config dir this process owns (a test's
 * temp HOME), so a server with plugins there starts without npm. Plugins without imports
 * (ours) need nothing of the package. Never use it on a person's own config dir.
 *
 * @example
 * ```ts
 * markOpencodePluginDepsInstalled(join(tmpHome, '.config', 'opencode'), '1.18.33');
 * ```
 */
export function markOpencodePluginDepsInstalled(configDir: string, version: string): void {
  mkdirSync(join(configDir, 'node_modules'), { recursive: true });
  const deps = { [PLUGIN_PACKAGE]: version };
  if (!existsSync(join(configDir, 'package.json')))
    writeFileSync(join(configDir, 'package.json'), JSON.stringify({ dependencies: deps }));
  if (!existsSync(join(configDir, 'package-lock.json'))) {
    writeFileSync(
      join(configDir, 'package-lock.json'),
      JSON.stringify({ lockfileVersion: 3, packages: { '': { dependencies: deps } } }),
    );
  }
}
