"""The stack's settings, from `.env` and the environment (course/environment.py), each with its default
(course/facts.py). Read by the stack, and by the notebooks when they ask which part of it is down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from course import environment, facts


@dataclass
class Config:
    host: str
    letta_port: int
    pg_port: int
    model_port: int
    redis_port: int
    data_dir: Path
    pg_uri: str | None
    redis_host: str | None
    password: str | None
    local_model: bool
    ollama_url: str | None
    env: dict[str, str]

    @classmethod
    def load(cls, env_file: Path | None = None) -> Config:
        values = environment.read(env_file)  # .env, then the real environment, as the notebooks read them
        get = lambda key, default=None: values.get(key) or default  # noqa: E731
        port = lambda p: int(get(p.variable, p.default))  # noqa: E731
        data_dir = Path(get("LETTA_COURSE_DATA", str(facts.STATE / "data")))
        return cls(
            host=get(facts.HOST_VARIABLE, facts.LOOPBACK),
            letta_port=port(facts.LETTA_PORT),
            pg_port=port(facts.POSTGRES_PORT),
            model_port=port(facts.MODEL_PORT),
            redis_port=int(get(facts.REDIS_PORT.variable, 6379)) if get("LETTA_REDIS_HOST") else port(facts.REDIS_PORT),
            data_dir=data_dir if data_dir.is_absolute() else facts.ROOT / data_dir,
            pg_uri=get("LETTA_PG_URI"),
            redis_host=get("LETTA_REDIS_HOST"),
            password=get("LETTA_SERVER_PASSWORD"),
            local_model=get("LOCAL_MODEL", "on").lower() not in ("off", "0", "false", "no"),
            ollama_url=get("OLLAMA_BASE_URL"),
            env=values,
        )

    @property
    def letta_url(self) -> str:
        return facts.letta_url(self.host, self.letta_port)  # the notebooks derive theirs the same way

    @property
    def model_url(self) -> str:
        return f"http://{facts.LOOPBACK}:{self.model_port}"

    @property
    def model_health(self) -> str:
        return self.model_url + "/health"

    @property
    def letta_health(self) -> str:
        return self.letta_url + "/v1/health/"
