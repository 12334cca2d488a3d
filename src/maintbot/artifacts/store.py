"""Where artifact files live: `MAINTBOT_ARTIFACT_DIR/<first two characters of the id>/<id>.<extension>`.

An id is the only thing a client names, and it is checked against the id alphabet before any path is built;
a path read back from the database is resolved (symbolic links too) and refused unless it lies inside the
folder. Nothing outside the artifact folder can be served, whatever the request or the database holds.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import anyio

ArtifactKind = Literal["chart", "csv", "xlsx"]

EXTENSIONS: dict[ArtifactKind, str] = {"chart": ".png", "csv": ".csv", "xlsx": ".xlsx"}
MEDIA_TYPES: dict[ArtifactKind, str] = {
    "chart": "image/png",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# token_urlsafe(24): 32 characters, 192 random bits.
_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
_FILE = re.compile(r"^[A-Za-z0-9_-]{32}\.(png|csv|xlsx)$")
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
# Files being written end with this; a crashed writer can leave one behind for the clean-up to remove.
PARTIAL_SUFFIX = ".partial"


def artifact_kind(text: str) -> ArtifactKind | None:
    """A stored kind as one the store knows, or None."""
    return next((kind for kind in EXTENSIONS if kind == text), None)


def new_artifact_id() -> str:
    """An unguessable id: knowing it is what lets a client read the artifact."""
    return secrets.token_urlsafe(24)


def is_artifact_id(text: str) -> bool:
    """Whether `text` could be an artifact id (and so is safe to build a path from)."""
    return bool(_ID.match(text))


def artifact_id_of(file_name: str) -> str | None:
    """The id of a file the store wrote (`<id>.png`), or None for anything else in the folder."""
    return file_name.split(".", 1)[0] if _FILE.match(file_name) else None


def relative_path(artifact_id: str, kind: ArtifactKind) -> str:
    """The file's path inside the artifact folder; raises ValueError for anything but an id."""
    if not is_artifact_id(artifact_id):
        raise ValueError("not an artifact id")
    return f"{artifact_id[:2]}/{artifact_id}{EXTENSIONS[kind]}"


def download_name(title: str, kind: ArtifactKind) -> str:
    """The file name offered for download: the question as ASCII words, e.g. `failures-per-month.png`."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = _SLUG_CHARS.sub("-", ascii_text).strip("-")[:60].rstrip("-")
    return f"{slug or 'maintbot'}{EXTENSIONS[kind]}"


@dataclass(frozen=True, slots=True)
class ArtifactStore:
    """The artifact folder, shared by every replica."""

    root: Path

    def target(self, relative: str) -> Path:
        """The absolute path of a stored relative path, checked lexically (no I/O): no absolute paths, no
        `..`, nothing but `xx/<id>.<ext>`. Raises ValueError otherwise."""
        parts = PurePosixPath(relative).parts
        if len(parts) != 2 or "\\" in relative or not _FILE.match(parts[1]) or parts[0] != parts[1][:2]:
            raise ValueError("not an artifact path")
        return self.root / parts[0] / parts[1]

    async def existing_file(self, relative: str) -> Path | None:
        """The file behind a stored path when it exists inside the folder (links resolved), else None."""
        try:
            candidate = self.target(relative)
        except ValueError:
            return None
        root = await anyio.Path(self.root).resolve()
        resolved = await anyio.Path(candidate).resolve()
        if not Path(resolved).is_relative_to(Path(root)) or not await resolved.is_file():
            return None
        return Path(resolved)

    async def remove(self, relatives: list[str]) -> int:
        """Delete stored files (missing ones are fine); returns how many were removed."""
        return await anyio.to_thread.run_sync(self._remove, relatives)

    def _remove(self, relatives: list[str]) -> int:
        removed = 0
        for relative in relatives:
            try:
                self.target(relative).unlink()
            except (ValueError, FileNotFoundError):
                continue
            removed += 1
        return removed

    async def files_older_than(self, cutoff_epoch_s: float) -> list[tuple[str, str | None]]:
        """(relative path, artifact id or None for a partial file) of every stored file last written
        before the cutoff; the clean-up decides which of them no record claims."""
        return await anyio.to_thread.run_sync(self._files_older_than, cutoff_epoch_s)

    def _files_older_than(self, cutoff_epoch_s: float) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        if not self.root.is_dir():
            return found
        for folder in self.root.iterdir():
            if len(folder.name) != 2 or not folder.is_dir() or folder.is_symlink():
                continue
            for path in folder.iterdir():
                artifact_id = artifact_id_of(path.name)
                if artifact_id is None and not path.name.endswith(PARTIAL_SUFFIX):
                    continue
                try:
                    if path.lstat().st_mtime < cutoff_epoch_s:
                        found.append((f"{folder.name}/{path.name}", artifact_id))
                except FileNotFoundError:
                    continue
        return found

    async def remove_paths(self, relatives: list[str]) -> int:
        """Delete files found by `files_older_than` (partial files included)."""
        return await anyio.to_thread.run_sync(self._remove_paths, relatives)

    def _remove_paths(self, relatives: list[str]) -> int:
        removed = 0
        for relative in relatives:
            folder, _, name = relative.partition("/")
            if len(folder) != 2 or "/" in name or name in ("", ".", ".."):
                continue
            try:
                (self.root / folder / name).unlink()
            except FileNotFoundError:
                continue
            removed += 1
        return removed
