/**
 * A shell condition that takes the key directory's flock on descriptor `fd` (opened on the
 * directory), waiting up to `seconds` for a holder to let go; it fails when the lock stays held.
 * Nodes without flock(1) take no lock, as before. util-linux's flock waits (-w) and says a
 * timeout with its own status (-E); busybox's and toybox's take neither option, and a failure
 * to parse them is not a held lock: they try once without waiting (-n), so such a node still
 * serialises its transactions and only loses the wait.
 */
export function takeDirLock(fd: number, seconds: number): string {
  return (
    `{ ! command -v flock >/dev/null 2>&1 || { flock -E 75 -w ${seconds} ${fd} 2>/dev/null; ` +
    `stek_fl=$?; [ "$stek_fl" = 0 ] || { [ "$stek_fl" != 75 ] && flock -n ${fd} 2>/dev/null; }; }; }`
  );
}
