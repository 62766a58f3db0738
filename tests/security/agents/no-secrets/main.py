"""Reports the envelope's top-level fields, and the text it was given."""

import json
import sys

envelope = json.loads(sys.stdin.read())
print(json.dumps({"type": "output", "pin": "fields", "value": sorted(envelope)}), flush=True)
text = envelope["inputs"].get("text", "")
print(json.dumps({"type": "output", "pin": "text", "value": text}), flush=True)
