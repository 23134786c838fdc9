/**
 * Shell setting stek_c to the pids of the children of process `pid` (a shell word), from
 * /proc/<pid>/task/<tid>/children with shell builtins only: a reload transaction asks every
 * tenth of a second while it waits for new workers, where `ps` would read every process on the
 * machine each time (and minimal images have none; busybox's takes no --ppid). Kernels without
 * those files fall back to `ps`.
 */
function childrenInto(pid: string): string[] {
  return [
    `stek_c=; for stek_ct in /proc/${pid}/task/*/children; do`,
    `  if [ ! -r "$stek_ct" ]; then stek_c=$(ps -o pid= --ppid ${pid}); break; fi`,
    '  stek_k=; read -r stek_k < "$stek_ct"; stek_c="$stek_c $stek_k"',
    'done',
  ];
}

/**
 * Shell setting stek_gen to the pids of the children of the process whose pid is the first word
 * of the pid file "$stek_pf", on one line. Leaves stek_gen as it was (empty) when the pid file or
 * the process is gone.
 */
export function childrenScript(): string {
  return [
    'stek_mp=; read -r stek_mp stek_rest < "$stek_pf"',
    '[ -n "$stek_mp" ] && [ -d "/proc/$stek_mp" ] && {',
    ...childrenInto('"$stek_mp"').map((l) => ` ${l}`),
    // Word splitting joins the pids with single spaces, as echo did; set -- is the function's own.
    ' set -- $stek_c; stek_gen=$*',
    '}',
  ].join('\n');
}

/** Shell printing the pids of the children of process `pid` (a shell word), blank-separated. */
export function childPidsOf(pid: string): string {
  return [...childrenInto(pid), 'echo "$stek_c"'].join('\n');
}
