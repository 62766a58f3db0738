#!/usr/bin/env bash
# Prints the shell export of the test database URL:  eval "$(make -s pg-env)"
# MENTATLAB_TEST_POSTGRES_URL is the database that up.sh created; its role may create
# databases, which is how the store tests get a fresh one per test.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[[ -s "$PG_URL_FILE" ]] || die "the test server is not started yet; run 'make pg-up' first"
printf 'export MENTATLAB_TEST_POSTGRES_URL=%q\n' "$(cat "$PG_URL_FILE")"
