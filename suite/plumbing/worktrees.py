"""Two commits of one git repository checked out side by side, for `tradeoff-bench ab`. Imports no torch.

    with side_by_side(repo, {"base": sha1, "head": sha2}) as trees:   # {"base": Path, "head": Path}
        ...

Each commit becomes a detached `git worktree` in a temporary directory, removed (and pruned from the
repository's worktree list) on the way out, whatever happened inside.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from suite.plumbing.errors import ConfigError, shown


def git(*args, cwd) -> str:
    """The stripped stdout of `git ARGS` in `cwd`; ConfigError with git's own first line when it fails."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise ConfigError("git not found on PATH (tradeoff-bench ab checks out commits with git)") from None
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[0]
        raise ConfigError(f"git {' '.join(args)}: {message}")
    return done.stdout.strip()


def repository_root(where: Path) -> Path:
    """The top of the git repository holding `where`; ConfigError when there is none."""
    try:
        return Path(git("rev-parse", "--show-toplevel", cwd=where))
    except ConfigError:
        raise ConfigError(f"{where} is not inside a git repository (tradeoff-bench ab compares two commits of "
                          "the repository in the current directory)") from None


def resolve(repo: Path, ref: str) -> str:
    """The full commit hash `ref` names in `repo`; ConfigError naming the ref when it names no commit."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo)
    except ConfigError:
        raise ConfigError(f"{shown(ref)} names no commit of {repo} (give a branch, tag or commit hash)") from None


@contextmanager
def side_by_side(repo: Path, commits: dict[str, str]):
    """{name: checkout path} of each commit in a fresh temporary directory, removed afterwards."""
    top = Path(tempfile.mkdtemp(prefix="tradeoff-bench-ab-"))
    added = []
    try:
        for name, commit in commits.items():
            path = top / name
            git("worktree", "add", "--detach", "--quiet", str(path), commit, cwd=repo)
            added.append(path)
        yield {name: top / name for name in commits}
    finally:
        for path in added:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=repo, capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=repo, capture_output=True)
