/** A buildpack or extension ID as a directory name: every `/` becomes `_` (lifecycle launch.EscapeID). */
export function escapeID(id: string): string {
  return id.replaceAll('/', '_');
}
