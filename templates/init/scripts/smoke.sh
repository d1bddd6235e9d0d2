#!/bin/sh
# Smoke test of one service after its deploy and health check (steps.smoke, prod's pipeline).
# Same environment variables as scripts/deploy.sh. Exit non-zero to fail the release: the
# ledger then stays where it was, and the next run redeploys the service.
set -eu
: "${GITOPS_SERVICE:?run this through gitops-gate run}"

# A real smoke test calls the service the way users do, for example:
#   curl --fail --silent --show-error --max-time 10 "https://$GITOPS_DOMAIN/healthz"
#   ./tests/smoke/"$GITOPS_SERVICE".sh "https://$GITOPS_DOMAIN"

# The example: the stand-in cluster runs the version the plan deployed.
cluster="${GITOPS_EXAMPLE_CLUSTER:-${TMPDIR:-/tmp}/gitops-gate-example-cluster}"
running=$(cat "$cluster/$GITOPS_ENVIRONMENT/$GITOPS_SERVICE" 2>/dev/null || echo none)
if [ "$running" != "$GITOPS_VERSION" ]; then
  echo "smoke: $GITOPS_ENVIRONMENT runs $GITOPS_SERVICE $running, not $GITOPS_VERSION" >&2
  exit 1
fi
echo "smoke: $GITOPS_SERVICE $GITOPS_VERSION answers on $GITOPS_ENVIRONMENT"
