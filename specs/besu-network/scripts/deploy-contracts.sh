#!/bin/sh
# Deploys the network's smart contracts in nonce order (one chain: never in
# parallel). Stand-in for the real deployment tooling.
set -eu
echo "deploying contracts to chain $2 in namespace ${BESU_NAMESPACE:-besu}"
