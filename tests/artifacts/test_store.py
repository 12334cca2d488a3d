"""Artifact ids cannot be guessed, and no id or stored path can reach a file outside the artifact folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from maintbot.artifacts.store import (
    ArtifactStore,
    artifact_id_of,
    download_name,
    is_artifact_id,
    new_artifact_id,
    relative_path,
)

TRAVERSALS = [
    "..",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "/etc/passwd",
    "ab/../../etc/passwd",
    "ab\\..\\..\\secret",
    "a" * 31 + "/",
    "a" * 31 + ".",
    "a" * 33,
    "a" * 32 + "\x00",
    "",
]


def test_ids_are_long_random_and_url_safe() -> None:
    ids = {new_artifact_id() for _ in range(2000)}

    assert len(ids) == 2000
    assert all(is_artifact_id(artifact_id) and len(artifact_id) == 32 for artifact_id in ids)


@pytest.mark.parametrize("text", TRAVERSALS)
def test_nothing_but_an_id_is_taken_for_one(text: str) -> None:
    assert not is_artifact_id(text)
    with pytest.raises(ValueError, match="not an artifact id"):
        relative_path(text, "csv")


def test_files_live_in_a_folder_named_after_the_id_s_first_characters() -> None:
    artifact_id = new_artifact_id()

    assert relative_path(artifact_id, "chart") == f"{artifact_id[:2]}/{artifact_id}.png"
    assert artifact_id_of(f"{artifact_id}.xlsx") == artifact_id
    assert artifact_id_of(f"{artifact_id}.png.42.partial") is None


@pytest.mark.parametrize(
    "stored",
    [
        "../../../etc/passwd",
        "/etc/passwd",
        "aa/../../etc/passwd",
        "aa/" + "b" * 32 + ".png",  # its folder is not its id's
        "aa/aa" + "b" * 30 + ".exe",
        "aa\\aa" + "b" * 30 + ".png",
        "aa/aa" + "b" * 30 + ".png/../../x",
    ],
)
def test_a_stored_path_outside_the_pattern_is_refused(tmp_path: Path, stored: str) -> None:
    store = ArtifactStore(tmp_path)

    with pytest.raises(ValueError, match="not an artifact path"):
        store.target(stored)


async def test_a_link_inside_the_folder_to_a_file_outside_is_never_served(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    root = tmp_path / "artifacts"
    artifact_id = new_artifact_id()
    relative = relative_path(artifact_id, "csv")
    (root / artifact_id[:2]).mkdir(parents=True)
    (root / relative).symlink_to(secret)

    assert await ArtifactStore(root).existing_file(relative) is None


async def test_a_folder_that_is_itself_a_link_still_keeps_files_inside(tmp_path: Path) -> None:
    real = tmp_path / "real-artifacts"
    artifact_id = new_artifact_id()
    relative = relative_path(artifact_id, "csv")
    (real / artifact_id[:2]).mkdir(parents=True)
    (real / relative).write_text("a,b\n")
    (tmp_path / "artifacts").symlink_to(real)

    found = await ArtifactStore(tmp_path / "artifacts").existing_file(relative)

    assert found == (real / relative).resolve()


@pytest.mark.parametrize(
    ("title", "kind", "name"),
    [
        ("Failures per month in the last year", "chart", "failures-per-month-in-the-last-year.png"),
        ("¿Cuántas órdenes hay en Bogotá?", "csv", "cuantas-ordenes-hay-en-bogota.csv"),
        ('../../etc/passwd"; rm -rf /', "xlsx", "etc-passwd-rm-rf.xlsx"),
        ("???", "csv", "maintbot.csv"),
    ],
)
def test_download_names_are_plain_ascii_words(title: str, kind: str, name: str) -> None:
    assert download_name(title, kind) == name  # type: ignore[arg-type]
