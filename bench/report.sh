#!/usr/bin/env bash
# Benchmark: `gitops-gate report` over N recorded deploys (default 10000), one commit and
# one run-record note per deploy, built with git fast-import. Usage: bench/report.sh [BIN] [N]
set -euo pipefail
BIN=${1:-target/release/gitops-gate}
N=${2:-10000}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
git init -q "$DIR/repo"
python3 - "$N" > "$DIR/stream" <<'PY'
import sys, json, datetime
n = int(sys.argv[1]); t0 = 1_780_000_000
out = sys.stdout
for i in range(n):
    t = t0 + i * 600
    body = f'service: api\nversion: "1.{i}"\nmaintainer: a@example.com\n'
    out.write(f"commit refs/heads/qa\nmark :{i+1}\ncommitter A <a@example.com> {t} +0000\n")
    msg = f"OPS-{i+1}: bump\n"
    out.write(f"data {len(msg)}\n{msg}")
    if i: out.write(f"from :{i}\n")
    out.write(f"M 100644 inline services/api.yaml\ndata {len(body.encode())}\n{body}\n")
PY
git -C "$DIR/repo" fast-import --quiet < "$DIR/stream"
# Attach one note per commit, in one fast-import commit on refs/notes/gitops-gate.
python3 - "$DIR/repo" <<'PY'
import sys, subprocess, json, datetime
repo = sys.argv[1]
revs = subprocess.run(["git", "-C", repo, "rev-list", "--reverse", "--format=%H %P %ct", "qa"], capture_output=True, text=True, check=True).stdout.split("\n")
lines = [l for l in revs if l and not l.startswith("commit ")]
stream = ["commit refs/notes/gitops-gate", "committer N <n@example.com> 1780000000 +0000", "data 5", "notes"]
for i, l in enumerate(lines):
    parts = l.split()
    sha, t = parts[0], int(parts[-1])
    base = parts[1] if len(parts) == 3 else None
    fin = datetime.datetime.fromtimestamp(t + 300, datetime.timezone.utc).isoformat()
    rec = json.dumps({"schema": 1, "environment": "qa", "head": sha, "base": base,
                      "result": "failed" if i % 10 == 0 else "succeeded", "finished": fin,
                      "stages": [{"id": "deploy", "service": "api"}]})
    stream.append(f"N inline {sha}")
    stream.append(f"data {len(rec.encode())}")
    stream.append(rec)
data = "\n".join(stream) + "\n"
subprocess.run(["git", "-C", repo, "fast-import", "--quiet"], input=data, text=True, check=True)
PY
start=$(date +%s.%N)
"$BIN" report --repo "$DIR/repo" --since 3650d --format json > "$DIR/out.json"
end=$(date +%s.%N)
python3 -c "import json,sys; r=json.load(open('$DIR/out.json')); print('runs', r['environments']['qa']['runs'])"
echo "report over $N deploys: $(echo "$end - $start" | bc) s"
