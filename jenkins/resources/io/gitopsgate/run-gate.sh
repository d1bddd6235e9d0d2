#!/usr/bin/env bash
# Runs gitops-gate with the argv the gitopsGate step put in the environment:
# GG_ARGC words in GG_ARG_0 .. GG_ARG_<n-1>, binary in GG_BIN. No value is ever parsed by a shell.
set -euo pipefail
args=()
for ((i = 0; i < GG_ARGC; i++)); do
  name="GG_ARG_$i"
  args+=("${!name}")
done
exec "$GG_BIN" "${args[@]}"
