"""Start the Letta server with the stack's encryption key. Runs inside the server's virtual environment.

Letta 0.16.8 encrypts what it must keep secret (agent secrets, provider keys) with `settings.encryption_key`,
which it would read from LETTA_ENCRYPTION_KEY. The stack hands over the key file's path instead, and the key is
set here, in the server's memory only: the local tool sandbox copies the server's environment into every tool
it runs, so a key in the environment could be read by any tool.

Usage: LETTA_COURSE_KEY_FILE=PATH python -m stack.server_env.letta_server --host HOST --port PORT
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

KEY_FILE_VARIABLE = "LETTA_COURSE_KEY_FILE"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stack.server_env.letta_server")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    from letta.settings import settings  # the one Settings object every Letta module reads

    key_file = os.environ.pop(KEY_FILE_VARIABLE, None)  # popped: tools need not learn where the key is
    if key_file:
        settings.encryption_key = Path(key_file).read_text().strip()

    from letta.server.rest_api.app import start_server

    start_server(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
