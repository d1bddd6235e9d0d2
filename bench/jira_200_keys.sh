#!/bin/sh
# 200 distinct JIRA ticket keys against a local fake JIRA answering in 50 ms: the whole
# `gitops-gate plan` run must judge them in under 1 s (issue 4). Prints the measured time.
set -eu
cd "$(dirname "$0")/.."
profile="${1:-}"
exec cargo test $profile --test approvals_bench -- --ignored --nocapture bench_200_keys_end_to_end 2>&1 | grep -E "BENCH|test result|panicked|took"
