#!/usr/bin/env python3
"""Reads {"spec": …, "context": …} on stdin; in "stream" mode writes NDJSON messages of its
own first; always ends with one line {"result": …, "mentat_meta": {…}}."""

import json
import sys
import time


def emit(message):
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main():
    started = time.time()
    incoming = json.loads(sys.stdin.read().strip())
    spec = incoming.get("spec")
    context = incoming.get("context")
    prompt = spec.get("prompt", "") if isinstance(spec, dict) else str(spec)
    words = prompt.split()
    if isinstance(spec, dict) and spec.get("mode") == "stream":
        emit({"type": "stream_start", "data": {"message": "psyche stream initiated"}})
        for index, word in enumerate(words, start=1):
            emit({"type": "text:stream", "content": word, "isComplete": False})
            emit({"type": "progress", "progress": int(100 * index / len(words)), "message": word})
        emit({"type": "stream_end", "data": {"message": "psyche stream ended"}})
    print("thinking about", len(words), "words")  # plain text: a log line
    result = {"ego": " | ".join(reversed(words)), "words": len(words)}
    if context is not None:
        result["context_received"] = context
    meta = {
        "tokens_input": len(words),
        "tokens_output": len(words),
        "seconds": round(time.time() - started, 4),
        "model": "psyche/0.1.0",
    }
    print(json.dumps({"result": result, "mentat_meta": meta}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
