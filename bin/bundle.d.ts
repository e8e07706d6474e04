/**
 * The path of an up-to-date esbuild bundle of `entry`, a .ts path relative to `root` (this repository
 * unless given), whatever the current directory.
 */
export function bundled(entry: string, options?: { root?: string }): Promise<string>;

/**
 * Bundles `entry` (a .ts path relative to `root`) into `outdir`: `<entry's name>.mjs` with its chunks
 * beside it. Resolves with esbuild's result.
 */
export function buildBundle(entry: string, options: { root?: string; outdir: string }): Promise<import('esbuild').BuildResult<{ metafile: true }>>;
