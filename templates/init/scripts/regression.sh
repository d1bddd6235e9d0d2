#!/bin/sh
# Regression suite of one service on an environment (steps.regression, staging's pipeline).
# Same environment variables as scripts/deploy.sh. Exit non-zero to fail the release.
set -eu
: "${GITOPS_SERVICE:?run this through gitops-gate run}"

# A real suite runs against the deployed service, for example:
#   npx playwright test --project "$GITOPS_SERVICE" --base-url "https://$GITOPS_DOMAIN"
#   mvn -B verify -Pregression -Dservice="$GITOPS_SERVICE" -Dbase.url="https://$GITOPS_DOMAIN"

# The example: the stand-in cluster runs the version the plan deployed.
cluster="${GITOPS_EXAMPLE_CLUSTER:-${TMPDIR:-/tmp}/gitops-gate-example-cluster}"
running=$(cat "$cluster/$GITOPS_ENVIRONMENT/$GITOPS_SERVICE" 2>/dev/null || echo none)
if [ "$running" != "$GITOPS_VERSION" ]; then
  echo "regression: $GITOPS_ENVIRONMENT runs $GITOPS_SERVICE $running, not $GITOPS_VERSION" >&2
  exit 1
fi
echo "regression: $GITOPS_SERVICE $GITOPS_VERSION passed on $GITOPS_ENVIRONMENT"
