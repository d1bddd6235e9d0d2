#!/usr/bin/env bash
# Benchmark: 100 services whose health endpoints answer after 200 ms must finish the
# healthcheck stage in under 1 s (they are checked concurrently). Loopback only.
# Usage: bench/healthcheck.sh [path/to/gitops-gate]   (default: target/release/gitops-gate)
set -euo pipefail
BIN=${1:-target/release/gitops-gate}
N=${N:-100}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 - "$work/port" <<'PY' &
import sys, time, http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.2)
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 512
s = S(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
server=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")

repo=$work/repo
git init -q -b qa "$repo"
mkdir -p "$repo/services"
printf 'version: 1\nenvironments:\n  qa: { branch: qa, pipeline: [healthcheck] }\n' >"$repo/gitops.yaml"
for i in $(seq -w 1 "$N"); do
  printf 'service: svc%s\nversion: "1.0.0"\nmaintainer: ops@example.com\nport: 8000\nhealthcheck: { endpoints: ["/healthz"], retries: 3, interval: 1s, timeout: 2s }\n' "$i" >"$repo/services/svc$i.yaml"
done
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -qm "bench"

start=$(date +%s.%N)
"$BIN" healthcheck --repo "$repo" --env qa --url-base "http://127.0.0.1:$port" 2>"$work/stderr" | tail -1 || { tail -5 "$work/stderr"; exit 1; }
end=$(date +%s.%N)
elapsed=$(echo "$end - $start" | bc -l)
printf 'healthcheck of %s services (200 ms each): %.3f s wall, whole process\n' "$N" "$elapsed"
if (( $(echo "$elapsed < 1.0" | bc -l) )); then echo "PASS (< 1 s)"; else echo "FAIL (>= 1 s)"; exit 1; fi
