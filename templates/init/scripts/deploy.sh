#!/bin/sh
# Deploys one service: gitops-gate runs it for every service a plan deploys or removes
# (steps.deploy in gitops.yaml), as an argv with no shell in between, from the repository
# root. Replace the example at the bottom with your real deploy; keep it idempotent, since a
# failed run is followed by a run that deploys the same service again.
#
# What it gets, as environment variables (never as text spliced into a command):
#   GITOPS_SERVICE  GITOPS_VERSION  GITOPS_ENVIRONMENT  GITOPS_ACTION (deploy | remove)
#   GITOPS_DOMAIN  GITOPS_PORT  GITOPS_CPU  GITOPS_MEMORY  GITOPS_MAINTAINER
#   GITOPS_COMMIT (the commit being deployed)  GITOPS_PLAN (the path of plan.json)
# Descriptor values come from whoever can push: always quote them ("$GITOPS_VERSION"), and
# pass them to tools as separate arguments, never through eval or sh -c.
set -eu
: "${GITOPS_SERVICE:?run this through gitops-gate run}"
: "${GITOPS_VERSION:?}" "${GITOPS_ENVIRONMENT:?}"
action="${GITOPS_ACTION:-deploy}"

# Kubernetes with plain manifests:
#   kubectl --namespace "$GITOPS_ENVIRONMENT" set image "deployment/$GITOPS_SERVICE" \
#     "$GITOPS_SERVICE=registry.example.com/$GITOPS_SERVICE:$GITOPS_VERSION"
#   kubectl apply --namespace "$GITOPS_ENVIRONMENT" -f "k8s/$GITOPS_SERVICE.yaml"
# Helm:
#   helm upgrade --install "$GITOPS_SERVICE" "charts/$GITOPS_SERVICE" \
#     --namespace "$GITOPS_ENVIRONMENT" --set-string image.tag="$GITOPS_VERSION" --wait
# Then wait for the rollout, so a broken image fails here and not in the health check:
#   kubectl rollout status "deployment/$GITOPS_SERVICE" --namespace "$GITOPS_ENVIRONMENT" --timeout 5m
# Removal (GITOPS_ACTION=remove):
#   helm uninstall "$GITOPS_SERVICE" --namespace "$GITOPS_ENVIRONMENT"

# The example: a stand-in cluster, one file per environment and service holding the running
# version, so you can watch deploys and rollbacks before wiring the real thing.
cluster="${GITOPS_EXAMPLE_CLUSTER:-${TMPDIR:-/tmp}/gitops-gate-example-cluster}"
mkdir -p "$cluster/$GITOPS_ENVIRONMENT"
if [ "$action" = remove ]; then
  rm -f "$cluster/$GITOPS_ENVIRONMENT/$GITOPS_SERVICE"
  echo "removed $GITOPS_SERVICE from $GITOPS_ENVIRONMENT"
else
  printf '%s\n' "$GITOPS_VERSION" > "$cluster/$GITOPS_ENVIRONMENT/$GITOPS_SERVICE"
  echo "deployed $GITOPS_SERVICE $GITOPS_VERSION to $GITOPS_ENVIRONMENT ($cluster)"
fi
