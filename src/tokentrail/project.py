"""Which project and git branch the calls of this process belong to, found without running git."""

from __future__ import annotations

from pathlib import Path

__all__ = ["detect_git_branch", "detect_project"]


def _git_dir(start: Path) -> tuple[Path, Path] | None:
    """(work tree root, git dir) of the repository holding `start`, if any."""
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return folder, dot_git
        if dot_git.is_file():  # worktree or submodule: "gitdir: <path>"
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                git_dir = Path(text[len("gitdir:") :].strip())
                return folder, git_dir if git_dir.is_absolute() else (folder / git_dir).resolve()
    return None


def detect_project(start: Path | None = None) -> str:
    """The git repository's folder name, else the working folder's name.

    Example:
        >>> isinstance(detect_project(), str)
        True
    """
    try:
        folder = (start or Path.cwd()).resolve()
    except OSError:  # the working folder was removed
        return "unknown"
    found = _git_dir(folder)
    return (found[0] if found else folder).name or "root"


def detect_git_branch(start: Path | None = None) -> str | None:
    """The checked-out branch (or short commit when detached), or None outside a repository."""
    try:
        found = _git_dir((start or Path.cwd()).resolve())
        if found is None:
            return None
        head = (found[1] / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if head.startswith("ref: refs/heads/"):
        return head[len("ref: refs/heads/") :]
    return head[:12] or None
