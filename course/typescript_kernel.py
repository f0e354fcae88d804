"""The TypeScript lessons' kernel: Deno's Jupyter kernel, registered in .venv, with the SDK fetched once.

    python -m course.typescript_kernel    # what `make venv` runs after installing requirements.txt (idempotent)

Deno comes from the `deno` wheel in requirements.txt (no Node.js, no root). The kernel is registered in the
virtual environment (`.venv/share/jupyter/kernels/`), where JupyterLab and nbmake find it, not in the user's home.
It starts through this module (`kernel`), which reads the course's settings as the Python lessons do (.env, then
the environment: helpers/settings.py) and hands them to Deno as LETTA_BASE_URL, LETTA_API_KEY (the SDK reads both
itself), LETTA_MODEL and LETTA_EMBEDDING, so the two tracks talk to the same server with the same models.
The SDK's version is pinned once, in notebooks/typescript/deno.json; deno.lock beside it holds its checksums
("frozen": a changed dependency fails instead of updating the lock). Deno keeps what it fetched in .course/deno,
so the notebooks run offline after set-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from course import facts

NAME = "letta-typescript"
DISPLAY = "TypeScript (Deno)"
LESSONS = facts.ROOT / "notebooks" / "typescript"
DENO_DIR = facts.STATE / "deno"
DENO = Path(sys.prefix) / "bin" / "deno"


def environment() -> dict[str, str]:
    """What every deno command here, and the kernel, runs with: the course's own cache, and no colours in outputs."""
    return {**os.environ, "DENO_DIR": str(DENO_DIR), "NO_COLOR": "1", "DENO_NO_UPDATE_CHECK": "1"}


def deno(*args: str, cwd: Path = LESSONS, env: dict[str, str] | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    if not DENO.exists():
        raise SystemExit(f"{DENO} is missing: run `make venv` (requirements.txt installs Deno)")
    return subprocess.run([str(DENO), *args], cwd=cwd, env=env or environment(), capture_output=True, text=True, timeout=timeout)


def install() -> Path:
    """Register the kernel in this environment and fetch the SDK into the course's cache."""
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / NAME
    spec.mkdir(parents=True, exist_ok=True)
    kernel = {
        "argv": [sys.executable, "-m", "course.typescript_kernel", "kernel", "{connection_file}"],
        "display_name": DISPLAY,
        "language": "typescript",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1) + "\n")
    imports = json.loads((LESSONS / "deno.json").read_text())["imports"]
    fetched = deno("cache", "--config", "deno.json", *_entry_points(imports))
    if fetched.returncode != 0:
        raise SystemExit(f"deno could not fetch the TypeScript SDK ({', '.join(imports.values())}):\n{fetched.stderr[-2000:]}")
    return spec


def _entry_points(imports: dict[str, str]) -> list[str]:
    """A tiny module that imports each mapped package, so `deno cache` fetches exactly those."""
    entry = DENO_DIR / "lesson_imports.ts"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text("".join(f'import "{name}";\n' for name in imports))
    return [str(entry)]


def with_settings() -> dict[str, str]:
    """`environment()` and the course's settings, as the Python lessons read them."""
    from helpers.settings import settings

    cfg = settings()
    course = {"LETTA_BASE_URL": cfg.base_url, "LETTA_MODEL": cfg.model, "LETTA_EMBEDDING": cfg.embedding}
    if cfg.token:
        course["LETTA_API_KEY"] = cfg.token
    return {**environment(), **course}


def kernel(connection_file: str) -> None:
    """Become Deno's kernel, with the course's settings in its environment."""
    os.execve(str(DENO), [str(DENO), "jupyter", "--kernel", "--conn", connection_file], with_settings())


if __name__ == "__main__":
    if sys.argv[1:2] == ["kernel"]:
        kernel(sys.argv[2])
    else:
        print(f"TypeScript kernel {NAME!r}: {install()}")
