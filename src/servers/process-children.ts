/**
 * Shell setting stek_gen to the pids of the children of the process whose pid is the first word
 * of the pid file "$stek_pf", on one line. A reload transaction runs it every tenth of a second while it
 * waits for new workers, so it reads /proc with shell builtins only; `ps` would read every
 * process on the machine each time. Kernels without /proc/<pid>/task/<tid>/children fall back
 * to `ps`. Leaves stek_gen as it was (empty) when the pid file or the process is gone.
 */
export function childrenScript(): string {
  return [
    'stek_mp=; read -r stek_mp stek_rest < "$stek_pf"',
    '[ -n "$stek_mp" ] && [ -d "/proc/$stek_mp" ] && {',
    ' stek_c=; for stek_ct in /proc/"$stek_mp"/task/*/children; do',
    '  if [ ! -r "$stek_ct" ]; then stek_c=$(ps -o pid= --ppid "$stek_mp"); break; fi',
    '  stek_k=; read -r stek_k < "$stek_ct"; stek_c="$stek_c $stek_k"',
    ' done',
    // Word splitting joins the pids with single spaces, as echo did; set -- is the function's own.
    ' set -- $stek_c; stek_gen=$*',
    '}',
  ].join('\n');
}

/**
 * Shell printing the pids of the children of process `pid` (a shell word), blank-separated: from
 * /proc/<pid>/task/<tid>/children, which needs no `ps` (minimal images have none, and busybox's
 * takes no --ppid); `ps` only on kernels without those files.
 */
export function childPidsOf(pid: string): string {
  return (
    `for stek_ct in /proc/${pid}/task/*/children; do ` +
    `if [ ! -r "$stek_ct" ]; then ps -o pid= --ppid ${pid}; break; fi; ` +
    // The shell's own read: no process per thread of the server.
    `stek_k=; read -r stek_k < "$stek_ct"; echo "$stek_k"; done`
  );
}
