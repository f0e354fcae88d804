"""A notebook kernel with another letta-client release: the course's own environment with that SDK in front.

`python -m runner --sdk 1.12.1` runs the lessons on it. The release is installed (pip, without dependencies:
the course's environment already has them) into .course/sdk/<version>/site, which the kernel puts first on its
PYTHONPATH; everything else (ipykernel, the helpers, the other packages) is the course's .venv, so such a run
differs from `make test` in the SDK alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from course import facts

HOME = facts.STATE / "sdk"  # git-ignored, like the stack's environments


def kernel(version: str) -> str:
    """The name of a kernel whose letta-client is `version`, installing it on first use."""
    home = HOME / version
    site, name = home / "site", f"letta-sdk-{version}"
    if not (site / "letta_client").is_dir():
        uv = [str(facts.UV), "pip", "install", "--quiet", "--no-deps", "--python", sys.executable, "--target", str(site)]
        done = subprocess.run([*uv, f"letta-client=={version}"], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"could not install letta-client=={version} (uv needs the package index):\n{done.stderr.strip()}")
    spec = home / "kernels" / name / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Python (letta-client {version})",
                "language": "python",
                "env": {"PYTHONPATH": str(site)},
            },
            indent=2,
        )
    )
    # Jupyter looks for kernels/<name>/kernel.json under every JUPYTER_PATH entry; the kernel inherits the rest.
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(home), os.environ.get("JUPYTER_PATH")) if p)
    return name
