/** The path of an up-to-date esbuild bundle of `entry` (a .ts path relative to the repository root). */
export function bundled(entry: string): Promise<string>;
