#!/bin/sh
# The only output pin is `report`, so the `result` below goes there.
echo "node $NODE_ID of run $RUN_ID" >&2
printf '{"result": {"spec": %s, "context": %s}, "mentat_meta": {"model": "sh", "seconds": 0}}\n' \
  "${INPUT_SPEC:-null}" "${INPUT_CONTEXT:-null}"
