import json
import sys

payload = json.load(sys.stdin)  # MentatLab passes a single-line JSON blob
print(json.dumps({"text": payload["text"]}))
