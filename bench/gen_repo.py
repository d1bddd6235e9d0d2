#!/usr/bin/env python3
"""Writes a `git fast-import` stream for a synthetic deployment repository:
N descriptors in one commit on `qa`, then C commits that each bump one descriptor
(or, with --wide K, commits that change K descriptors at once at the end).
Usage: gen_repo.py DESCRIPTORS COMMITS [--wide K] [--no-capacity] | git fast-import --quiet
(--no-capacity: a policy without `gates.capacity`, so no rule reads every descriptor)

The root (the ledger) and the head's parent (the base of the one-commit scenarios) carry a
run record note with the capacity sums, as `gitops-gate run` records them on each commit it
deploys (`src/sums.rs`): a push from a deployed commit reads only what it changes."""
import hashlib
import sys

n = int(sys.argv[1])
commits = int(sys.argv[2])
wide = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--wide" else 0
capacity = "--no-capacity" not in sys.argv
out = sys.stdout.buffer

POLICY = b"""version: 1
environments:
  qa: { branch: qa, pipeline: [deploy, healthcheck] }
gates:
  committers: ["alice@example.com"]
  jira: { required: true, projects: ["OPS"], verify: presence }
  max_commits: 50000
CAPACITY
steps:
  deploy: { run: ["true"] }
"""
POLICY = POLICY.replace(
    b"CAPACITY\n", b'  capacity: { cpu: "100000", memory: "100000Gi" }\n' if capacity else b""
)


def desc(i, version):
    return (
        f'service: svc-{i}\nversion: "{version}"\nmaintainer: team-{i % 50}@example.com\n'
        f"domain: svc-{i}.qa.example.com\nport: 8080\n"
        f'healthcheck:\n  endpoints: ["/healthz", "/ready"]\n  retries: 10\n  interval: 5s\n  timeout: 2s\n'
        f"resources: {{ cpu: 500m, memory: 512Mi }}\nports: [8080]\n"
        f'firewall: {{ ingress: ["10.0.0.0/8"] }}\nnotify: {{ email: ["team-{i % 50}@example.com"], slack: ["#svc-{i}"] }}\n'
    ).encode()


def data(b):
    out.write(b"data %d\n" % len(b))
    out.write(b)
    out.write(b"\n")


t = 1767225600
mark = 0


def commit(msg, files, parent):
    global t, mark
    t += 60
    mark += 1
    out.write(b"commit refs/heads/qa\nmark :%d\n" % mark)
    out.write(b"author Alice <alice@example.com> %d +0000\n" % t)
    out.write(b"committer Alice <alice@example.com> %d +0000\n" % t)
    data(msg.encode())
    if parent:
        out.write(b"from :%d\n" % parent)
    for path, body in files:
        out.write(b"M 100644 inline %s\n" % path.encode())
        data(body)
    return mark


def record(versions):
    """The run record a deploy of these descriptors leaves: the capacity sums (every
    descriptor asks for 500m and 512Mi) and the id of the `services/` tree they are for."""
    entries = []
    for i in range(n):
        body = desc(i, f"1.0.{versions[i]}")
        blob = hashlib.sha1(b"blob %d\0" % len(body) + body).digest()
        entries.append((f"svc-{i}.yaml".encode(), blob))
    tree = b"".join(b"100644 " + name + b"\0" + blob for name, blob in sorted(entries))
    tree_id = hashlib.sha1(b"tree %d\0" % len(tree) + tree).hexdigest()
    return (
        '{"schema":1,"environment":"qa","result":"succeeded","ledger":"moved",'
        f'"capacity":{{"schema":1,"tree":"{tree_id}","services":{n},'
        f'"cpu":"{n * 500}","memory":"{n * 512 * 2**20 * 1000}","unreadable":[]}}}}\n'
    ).encode()


versions = [0] * n
files = [("gitops.yaml", POLICY)] + [(f"services/svc-{i}.yaml", desc(i, "1.0.0")) for i in range(n)]
root = commit("OPS-1: initial descriptors", files, None)
notes = [(root, record(versions))]
out.write(b"reset refs/gitops-gate/deployed/qa\nfrom :%d\n\n" % root)
prev = root
bumps = [(c * 7919) % n for c in range(commits)]
for c, i in enumerate(bumps):
    if c == len(bumps) - 1 and not wide and c > 0:
        notes.append((prev, record(versions)))
    versions[i] += 1
    prev = commit(f"OPS-{c + 2}: bump svc-{i}\n\nRoutine bump.", [(f"services/svc-{i}.yaml", desc(i, f"1.0.{versions[i]}"))], prev)
if wide:
    notes.append((prev, record(versions)))
    files = []
    for i in range(wide):
        versions[i] += 1
        files.append((f"services/svc-{i}.yaml", desc(i, f"1.0.{versions[i]}")))
    prev = commit(f"OPS-99999: bump {wide} services", files, prev)
t += 60
out.write(b"commit refs/notes/gitops-gate\n")
out.write(b"committer gitops-gate <gitops-gate@localhost> %d +0000\n" % t)
data(b"gitops-gate: run records")
for commit_mark, text in notes:
    out.write(b"N inline :%d\n" % commit_mark)
    data(text)
out.write(b"done\n")
