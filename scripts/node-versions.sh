#!/usr/bin/env bash
# Runs the unit tests on the other Node.js lines stekctl supports (22 and 24 unless NODE_VERSIONS
# says otherwise), with arguments passed on to vitest. On the newest (NODE_E2E_ON) it also runs a
# few end-to-end files on the real loopback fleet (NODE_E2E; empty skips them): the ones whose
# runs lean on what changes between Node lines (TLS sessions, child processes, signals). Each
# Node comes from the npm registry (node-linux-<arch>) into node_modules/.cache, so no system
# Node changes.
set -euo pipefail
cd "$(dirname "$0")/.."
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "no Node.js package for $(uname -m)" >&2; exit 1 ;;
esac
cache=node_modules/.cache/stekctl-node
e2e=${NODE_E2E-test/e2e/rotate-nginx.test.ts test/e2e/rotate-haproxy.test.ts test/e2e/verify.test.ts test/e2e/rotate-interrupt.test.ts}
e2e_on=${NODE_E2E_ON-24}
# The end-to-end files run the built CLI.
if [ -n "$e2e" ] && [ -n "$e2e_on" ]; then npm run --silent build; fi
for v in ${NODE_VERSIONS:-22 24}; do
  dir=$cache/$arch-$v
  if [ ! -x "$dir/package/bin/node" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    tgz=$(npm pack --silent --pack-destination "$dir" "node-linux-$arch@$v")
    tar -xzf "$dir/$tgz" -C "$dir" && rm -f "$dir/$tgz"
  fi
  echo "== Node.js $("$dir/package/bin/node" --version)"
  PATH="$PWD/$dir/package/bin:$PATH" npx vitest run --project unit "$@"
  if [ -n "$e2e" ] && [[ " $e2e_on " == *" $v "* ]]; then
    # shellcheck disable=SC2086 # a list of files
    PATH="$PWD/$dir/package/bin:$PATH" npx vitest run --project e2e $e2e
  fi
done
