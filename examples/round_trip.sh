#!/usr/bin/env bash
# One learn/feedback/undo round trip on the demo store: ask, say the answer was wrong and give
# the right one, ask again (the correction is cited), look at the history, undo, ask again.
set -euo pipefail
OVERLAY=${OVERLAY:-.venv/bin/overlay}
DB=${1:-.overlay-demo/overlay.db}
Q="How warm should the kitchen be for a starter?"
FIX="Keep a starter at 24 to 26 °C; below 20 °C it barely rises."

ask() {  # the answer lines and the trace line; sets TRACE
    local out
    out=$($OVERLAY ask "$Q" --db "$DB")
    echo "\$ overlay ask \"$Q\""
    sed -n '/^cited:/q;p' <<<"$out"
    TRACE=$(sed -n 's/^trace \([0-9a-f]*\).*/\1/p' <<<"$out")
}

ask
echo "\$ overlay feedback $TRACE bad --correct \"$FIX\""
EVENT=$($OVERLAY feedback "$TRACE" bad --correct "$FIX" --db "$DB" --json \
    | sed -n 's/^ *"event": \([0-9]*\),*/\1/p')
echo "event $EVENT: bad counted for the note the answer led with; the correction learned"
ask
echo "\$ overlay history -n 3"
$OVERLAY history -n 3 --db "$DB"
echo "\$ overlay undo $EVENT"
$OVERLAY undo "$EVENT" --db "$DB"
ask
