#!/usr/bin/env bash
# Benchmark: a descriptor of nothing but nested `[` must be judged in time linear in its
# size, up to the 1 MiB cap. Runs `validate` on a repository whose one descriptor holds N
# nested `[` (25,000, 50,000, 100,000 and the 1 MiB cap), with each binary given, and
# prints the time and the first problem reported. A run over TIMEOUT seconds (default
# 120) is stopped and printed as such.
# Usage: bench/yaml_depth.sh [path/to/gitops-gate ...]   (default: target/release/gitops-gate)
# Before/after: bench/yaml_depth.sh /tmp/gitops-gate-before target/release/gitops-gate
set -euo pipefail
[ $# -gt 0 ] || set -- target/release/gitops-gate
TIMEOUT=${TIMEOUT:-120}
SIZES=${SIZES:-"25000 50000 100000 max"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

prefix=$'service: api\nversion: "1.0.0"\nmaintainer: ops@example.com\nports: '
for n in $SIZES; do
  repo=$work/repo-$n
  git init -q -b qa "$repo"
  mkdir -p "$repo/services"
  printf 'version: 1\nenvironments:\n  qa: { branch: qa, pipeline: [deploy] }\nsteps:\n  deploy: { run: ["true"] }\n' >"$repo/gitops.yaml"
  if [ "$n" = max ]; then n=$((1048576 - ${#prefix} - 1)); fi
  python3 -c 'import sys; sys.stdout.write(sys.argv[1] + "[" * int(sys.argv[2]) + "\n")' "$prefix" "$n" >"$repo/services/api.yaml"
  git -C "$repo" add -A
  git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -qm "bench"
  bytes=$(wc -c <"$repo/services/api.yaml")
  for bin in "$@"; do
    start=$(date +%s.%N)
    set +e
    out=$(timeout "$TIMEOUT" "$bin" validate --env qa --repo "$repo" 2>&1)
    code=$?
    set -e
    end=$(date +%s.%N)
    secs=$(echo "$end - $start" | bc)
    if [ "$code" = 124 ]; then
      problem="(stopped after ${TIMEOUT}s)"
    else
      problem=$(printf '%s\n' "$out" | grep -m1 'services/api.yaml' | cut -c1-110 || true)
    fi
    printf '%-9s nested [ (%8s bytes)  %-40s exit %-3s %7.2fs  %s\n' "$n" "$bytes" "$bin" "$code" "$secs" "$problem"
  done
done
