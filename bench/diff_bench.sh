#!/usr/bin/env bash
# Diff/gate benchmark: a synthetic deployment repository of N descriptors (default 5,000),
# timing `gitops-gate plan --offline` (capacity summed over every service) for a one-commit
# push changing 100 descriptors and one changing all of them, against Git's own data access
# for the same range (git log + git diff-tree + reading the changed blobs).
#
#   bench/diff_bench.sh [N] [RUNS]     # builds --release once; prints milliseconds (median)
set -euo pipefail
N=${1:-5000}
RUNS=${2:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release/gitops-gate"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REPO="$WORK/repo"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
git init -q -b main "$REPO"
cd "$REPO"
cat > gitops.yaml <<'POLICY'
version: 1
environments:
  qa: { branch: main, pipeline: [deploy, healthcheck] }
gates:
  capacity: { cpu: "100000", memory: "100Ti" }
  limits: { cpu: "4", memory: "8Gi" }
  ports: { allowed: ["80", "443", "8000-8999"] }
  offline: allow
steps:
  deploy: { run: ["true"] }
POLICY
mkdir services
gen() { # gen VERSION FIRST LAST
  awk -v v="$1" -v a="$2" -v b="$3" 'BEGIN { for (i = a; i <= b; i++) {
    f = sprintf("services/svc-%05d.yaml", i)
    printf "service: svc-%05d\nversion: \"%s\"\nmaintainer: team-%d@example.com\ndomain: svc-%05d.qa.example.com\nport: 8080\nhealthcheck:\n  endpoints: [\"/healthz\", \"/ready\"]\n  retries: 5\n  interval: 5s\n  timeout: 2s\nresources: { cpu: 250m, memory: 256Mi }\nports: [8080]\nfirewall: { ingress: [\"10.0.0.0/8\"] }\n", i, v, i % 50, i > f
    close(f) } }'
}
gen 1.0.0 1 "$N"
git add -A && git commit -qm "OPS-1: $N services"
BASE=$(git rev-parse HEAD)
git update-ref refs/gitops-gate/deployed/qa "$BASE"
gen 1.0.1 1 100
git commit -qam "OPS-2: bump 100 services"
P100=$(git rev-parse HEAD)
git checkout -q -b all "$BASE"
gen 1.0.1 1 "$N"
git commit -qam "OPS-3: bump every service"
PALL=$(git rev-parse HEAD)
git checkout -q main

now() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
time_ms() { # time_ms CMD...: median wall time of RUNS runs, in ms
  for _ in $(seq "$RUNS"); do
    t0=$(now); "$@" > /dev/null 2>&1 || true; t1=$(now)
    echo $(( (t1 - t0) / 1000000 ))
  done | median
}
git_access() { # the data Git itself must touch: commits, changed paths, changed blobs
  git log --format='%H %ae %s' "$BASE..$1" > /dev/null
  git diff-tree -r "$BASE" "$1" -- gitops.yaml services |
    awk '{ print $3; print $4 }' | grep -v '^0*$' | git cat-file --batch > /dev/null
}
plan() {
  "$BIN" plan --repo "$REPO" --env qa --head "$1" --offline --no-fetch --out "$WORK/out" -q
}
"$BIN" plan --repo "$REPO" --env qa --head "$P100" --offline --no-fetch --out "$WORK/out" -q > /dev/null || true
grep -q '"decision": "deploy"' "$WORK/out/plan.json" || { echo "plan did not decide deploy:"; cat "$WORK/out/plan.json"; exit 1; }

echo "diff bench: $N descriptors, median of $RUNS runs, $(nproc) cores"
for case in "100:$P100" "all:$PALL"; do
  name=${case%%:*}; head=${case#*:}
  g=$(time_ms git_access "$head")
  p=$(time_ms plan "$head")
  ratio=$(awk -v p="$p" -v g="$g" 'BEGIN { printf "%.1f", (g > 0 ? p / g : 0) }')
  printf '  push changing %-4s  plan %5d ms   git data access %5d ms   ratio %sx\n' "$name" "$p" "$g" "$ratio"
done
