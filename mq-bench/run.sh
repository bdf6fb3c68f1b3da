#!/usr/bin/env bash
# Builds the benchmarks and runs the whole suite: ratios against peers measured in the same run.
# Usage: bash mq-bench/run.sh [-Drounds=3] [-Dwarmups=4] [-Diterations=5] [-Donly=<scenario prefix>]
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -q -B -pl mq-bench -am package -DskipTests
exec java -Xms4g -Xmx4g "$@" -jar mq-bench/target/benchmarks.jar
