/**
 * The path of an up-to-date esbuild bundle of `entry`, a .ts path relative to `root` (this repository
 * unless given), whatever the current directory.
 */
export function bundled(entry: string, options?: { root?: string }): Promise<string>;
