#!/usr/bin/env bash
# install.sh - install, upgrade or uninstall the "sqlalchemy-async" Agent Skill.
#
# Needs bash and coreutils; git only when it has to download the skill (--from, --ref, or
# when run on its own, e.g. `curl -fsSL .../install.sh | bash`). Run with --help for usage.
#
# Safety rules, all enforced below:
#   * copies only the payload (SKILL.md and the PAYLOAD_DIRS below, without caches);
#   * writes only inside the skill directory, its hidden staging/backup siblings in the
#     skills directory, and the skills directory's own parents when they are missing;
#   * never writes through a symbolic link and never touches a directory that holds another
#     skill or files it did not install;
#   * records a manifest (.install-manifest) with a sha256 per file, and refuses to overwrite
#     or remove an installed copy that was edited unless --force (which keeps a backup first);
#   * stages the new copy next to the target and swaps it in, so a failure midway leaves the
#     previous installation (or nothing) in place.
#
# The whole script is one function called on the last line, so a truncated download through
# a pipe runs nothing.

# `curl ... | sh` would run it with a shell that is not bash: stop before anything happens.
if [ -z "${BASH_VERSION:-}" ]; then
    echo "install.sh: run it with bash (e.g. curl -fsSL URL | bash), not sh" >&2
    exit 1
fi

set -euo pipefail

readonly DEFAULT_REPO_URL="https://github.com/sqlalchemy-async/sqlalchemy-async-skill.git"
readonly SKILL_NAME="sqlalchemy-async"
readonly MANIFEST_NAME=".install-manifest"
readonly BACKUPS_NAME=".${SKILL_NAME}-backups"
readonly PROG="install.sh"
# What is copied besides SKILL.md: these top-level directories (hidden files and caches left out).
PAYLOAD_DIRS=(references examples scripts)

# Captured at top level: inside functions, and when the script comes from a pipe, it differs.
SCRIPT_PATH=${BASH_SOURCE[0]:-}

# Options.
MODE=personal
PROJECT_DIR=""
DEST_DIR=""
FROM_URL=""
REF=""
DRY_RUN=0
UNINSTALL=0
FORCE=0

# Layout (set by resolve_layout).
BASE=""
SKILLS_DIR=""
TARGET=""
BACKUP_ROOT=""
CHECK_PATHS=()

# Source (set by locate_source).
SRC=""
SOURCE_DESC=""
VERSION=""

# Temporary paths, removed (or restored) by cleanup.
CLONE_TMP=""
STAGE_DIR=""
ASIDE_DIR=""
RESTORE_FROM=""

# Results of collect_payload, read_manifest and inspect_installed.
PAYLOAD_SUMS=""
M_SKILL=""
M_VERSION=""
M_SOURCE=""
M_SUMS=""
M_FILES=""
M_DIRS=""
W_FILES=""
W_DIRS=""
W_JUNK=""
W_PRESENT=""
CHANGES=""

SHA_CMD=()

# --------------------------------------------------------------------------------- messages

say() { printf '%s\n' "$*"; }

warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }

# die MESSAGE [DETAIL...]: print an error (details indented, one a line) and exit 1.
die() {
    printf '%s: error: %s\n' "$PROG" "$1" >&2
    shift
    local line
    for line in "$@"; do
        printf '  %s\n' "$line" >&2
    done
    exit 1
}

usage_error() {
    printf "%s: %s\nTry '%s --help' for usage.\n" "$PROG" "$1" "$PROG" >&2
    exit 2
}

usage() {
    local payload
    printf -v payload '%s/, ' "${PAYLOAD_DIRS[@]}"
    cat <<EOF
Usage: install.sh [--agents | --project [DIR] | --dest DIR] [--from URL] [--ref REF]
                  [--dry-run] [--force] [--uninstall]

Install the "$SKILL_NAME" Agent Skill (SKILL.md, ${payload%, }).

Where (pick one; default: personal):
  (default)         ~/.claude/skills/$SKILL_NAME/ - every project, for you: Claude Code,
                    Cursor, Copilot, OpenCode
  --agents          ~/.agents/skills/$SKILL_NAME/ - the agent-neutral folder: Codex,
                    Gemini CLI (and Cursor, Copilot, OpenCode)
  --project [DIR]   DIR/.claude/skills/$SKILL_NAME/ - one project (DIR defaults to .)
  --dest DIR        DIR/$SKILL_NAME/ - any other skills directory (created if missing)

What:
  --from URL        clone the skill from this git repository and install from the clone
                    (default when install.sh has no SKILL.md beside it: $DEFAULT_REPO_URL)
  --ref REF         tag or branch to clone (implies cloning; default: the default branch)
  --uninstall       remove the files install.sh installed (per its manifest); the skill
                    directory goes too if nothing else is left in it
  --dry-run         print what would happen and change nothing
  --force           replace or remove an installed copy you edited, or a hand-made copy of
                    this skill without a manifest; the old copy is first kept in
                    <skills dir>/$BACKUPS_NAME/<timestamp>/
  -h, --help        show this help

Re-running is safe: an up-to-date install is left alone, an untouched older one is upgraded
(files dropped from the skill are removed). A manifest, $MANIFEST_NAME, in the skill
directory records the version, source, date and a sha256 for every file installed.

Exit status: 0 done (or nothing to do), 1 refused or failed, 2 bad command line.
EOF
}

# ------------------------------------------------------------------------------------ cleanup

cleanup() {
    local status=$?
    # A failure between moving the old copy aside and moving the new one in: put it back.
    if [[ -n $RESTORE_FROM && -d $RESTORE_FROM && -n $TARGET ]]; then
        if [[ ! -e $TARGET && ! -L $TARGET ]]; then
            if mv -- "$RESTORE_FROM" "$TARGET" 2>/dev/null; then
                warn "restored the previous installation in $TARGET"
            fi
        fi
    fi
    if [[ -n $ASIDE_DIR ]]; then
        rm -rf -- "$ASIDE_DIR"
    fi
    if [[ -n $STAGE_DIR ]]; then
        rm -rf -- "$STAGE_DIR"
    fi
    if [[ -n $CLONE_TMP ]]; then
        rm -rf -- "$CLONE_TMP"
    fi
    return "$status"
}

# ------------------------------------------------------------------------------ small helpers

# abspath PATH: absolute (against $PWD), without resolving symlinks, "/./" and trailing "/"
# removed.
abspath() {
    local p=$1
    [[ $p == /* ]] || p="$PWD/$p"
    while [[ $p == */./* ]]; do
        p=${p//\/.\//\/}
    done
    while [[ $p == */. ]]; do
        p=${p%/.}
    done
    while [[ $p == *//* ]]; do
        p=${p//\/\//\/}
    done
    while [[ $p == */ && $p != / ]]; do
        p=${p%/}
    done
    printf '%s\n' "${p:-/}"
}

# sorted_lines LIST: the non-empty lines of LIST, sorted bytewise and deduplicated.
sorted_lines() {
    local out
    if [[ -n $1 ]]; then
        out=$(printf '%s\n' "$1" | LC_ALL=C sort -u)
        out=${out#$'\n'} # an empty line sorts first
        if [[ -n $out ]]; then
            printf '%s\n' "$out"
        fi
    fi
}

# The list helpers below return their result in RESULT (no subshell, no fork): lists are
# newline-separated strings, small enough (tens of lines) for plain bash.
RESULT=""

# lines_minus A B: RESULT = the lines of A (in order) that are not lines of B.
lines_minus() {
    local line out=""
    while IFS= read -r line; do
        if [[ -n $line ]] && ! has_line "$2" "$line"; then
            out+=$line$'\n'
        fi
    done <<<"$1"
    RESULT=${out%$'\n'}
}

# lines_both A B: RESULT = the lines of A (in order) that are also lines of B.
lines_both() {
    local line out=""
    while IFS= read -r line; do
        if [[ -n $line ]] && has_line "$2" "$line"; then
            out+=$line$'\n'
        fi
    done <<<"$1"
    RESULT=${out%$'\n'}
}

# has_line LIST ITEM: whether ITEM is one of LIST's lines.
has_line() {
    [[ $'\n'"$1"$'\n' == *$'\n'"$2"$'\n'* ]]
}

# count_lines LIST: RESULT = how many lines LIST has.
count_lines() {
    local n=0 line
    if [[ -n $1 ]]; then
        while IFS= read -r line; do
            n=$((n + 1))
        done <<<"$1"
    fi
    RESULT=$n
}

# print_list PREFIX LIST: LIST one a line, indented, at most 20 lines.
print_list() {
    local prefix=$1 n=0 line total
    [[ -n $2 ]] || return 0
    count_lines "$2"
    total=$RESULT
    while IFS= read -r line; do
        n=$((n + 1))
        if ((n > 20)); then
            printf '%s... and %s more\n' "$prefix" "$((total - 20))"
            break
        fi
        printf '%s%s\n' "$prefix" "$line"
    done <<<"$2"
}

pick_sha_tool() {
    if command -v sha256sum >/dev/null 2>&1; then
        SHA_CMD=(sha256sum)
    elif command -v shasum >/dev/null 2>&1; then
        SHA_CMD=(shasum -a 256)
    else
        die "neither sha256sum (coreutils) nor shasum was found on PATH"
    fi
}

# sha_lines DIR FILES: "SHA256  PATH" for each of the (relative, newline-separated) FILES,
# in their order, with one run of the checksum tool. Names holding a newline or a backslash
# (which the tool would escape) never get this far.
sha_lines() {
    local dir=$1 rel out line
    local -a args=()
    while IFS= read -r rel; do
        if [[ -n $rel ]]; then
            args+=("./$rel")
        fi
    done <<<"$2"
    if ((${#args[@]} == 0)); then
        return 0
    fi
    out=$(cd -- "$dir" && "${SHA_CMD[@]}" "${args[@]}")
    while IFS= read -r line; do
        rel=${line#* }
        rel=${rel#[ *]} # "HASH  NAME", or "HASH *NAME" in binary mode
        printf '%s  %s\n' "${line%% *}" "${rel#./}"
    done <<<"$out"
}

# skill_name_of SKILL.md: the front matter's name (quotes and blanks stripped), or nothing.
skill_name_of() {
    local line first=1 name="" re='^name:[[:space:]]*(.*)$'
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%$'\r'}
        if ((first)); then
            if [[ $line != "---" ]]; then
                return 0
            fi
            first=0
            continue
        fi
        if [[ $line == "---" ]]; then
            break
        fi
        if [[ $line =~ $re ]]; then
            name=${BASH_REMATCH[1]}
        fi
    done <"$1"
    # Trim blanks, then one pair of matching quotes.
    name=${name#"${name%%[![:space:]]*}"}
    name=${name%"${name##*[![:space:]]}"}
    if [[ $name == \"*\" || $name == \'*\' ]]; then
        name=${name:1:${#name}-2}
    fi
    printf '%s\n' "$name"
}

# Caches that Python and tools write next to the examples: never copied, never counted as
# your edits, and cleaned up on uninstall.
is_junk() {
    case $1 in
        __pycache__ | .mypy_cache | .ruff_cache | .pytest_cache | .DS_Store | *.pyc | *.pyo)
            return 0
            ;;
    esac
    return 1
}

# list_tree DIR REL: "TYPE REL/NAME" for everything under DIR, without following symlinks.
# TYPE: F file, D directory (then its contents), L symlink, J cache (not entered), O other.
list_tree() {
    local dir=$1 rel=$2 entry name sub
    for entry in "$dir"/*; do
        name=${entry##*/}
        sub=${rel:+$rel/}$name
        if [[ $sub == *$'\n'* || $sub == *\\* ]]; then
            die "unsupported file name (newline or backslash) under $dir"
        fi
        if [[ -L $entry ]]; then
            printf 'L %s\n' "$sub"
        elif is_junk "$name"; then
            printf 'J %s\n' "$sub"
        elif [[ -d $entry ]]; then
            printf 'D %s\n' "$sub"
            list_tree "$entry" "$sub"
        elif [[ -f $entry ]]; then
            printf 'F %s\n' "$sub"
        else
            printf 'O %s\n' "$sub"
        fi
    done
}

# safe_rel PATH: a plain relative path inside the skill directory (no "..", no "/" prefix).
safe_rel() {
    local rest=$1 part
    case $rest in
        "" | /* | */ | *//* | *\\* | *$'\n'* | "$MANIFEST_NAME") return 1 ;;
    esac
    while [[ -n $rest ]]; do
        part=${rest%%/*}
        if [[ $part == "." || $part == ".." ]]; then
            return 1
        fi
        if [[ $rest == */* ]]; then
            rest=${rest#*/}
        else
            rest=""
        fi
    done
    return 0
}

# dirs_of FILES: RESULT = every ancestor directory of the (relative) FILES, once each.
dirs_of() {
    local rel dir out=""
    while IFS= read -r rel; do
        dir=$rel
        while [[ $dir == */* ]]; do
            dir=${dir%/*}
            if ! has_line "$out" "$dir"; then
                out+=$dir$'\n'
            fi
        done
    done <<<"$1"
    RESULT=${out%$'\n'}
}

# files_of SUMS: RESULT = the paths of "HASH  PATH" lines, in order.
files_of() {
    local line out=""
    while IFS= read -r line; do
        if [[ -n $line ]]; then
            out+=${line#*  }$'\n'
        fi
    done <<<"$1"
    RESULT=${out%$'\n'}
}

# --------------------------------------------------------------------------------- arguments

parse_args() {
    local where=""
    while (($# > 0)); do
        case $1 in
            -h | --help)
                usage
                exit 0
                ;;
            --agents) pick_where agents ;;
            --project)
                pick_where project
                if (($# > 1)) && [[ $2 != -* ]]; then
                    PROJECT_DIR=$2
                    shift
                fi
                ;;
            --project=*)
                pick_where project
                PROJECT_DIR=${1#*=}
                [[ -n $PROJECT_DIR ]] || usage_error "--project= needs a directory"
                ;;
            --dest | --from | --ref)
                (($# > 1)) && [[ -n $2 ]] || usage_error "$1 needs a value"
                [[ $1 != --dest ]] || pick_where dest
                set_value_option "$1" "$2"
                shift
                ;;
            --dest=* | --from=* | --ref=*)
                [[ -n ${1#*=} ]] || usage_error "${1%%=*} needs a value"
                [[ $1 != --dest=* ]] || pick_where dest
                set_value_option "${1%%=*}" "${1#*=}"
                ;;
            --dry-run) DRY_RUN=1 ;;
            --uninstall) UNINSTALL=1 ;;
            --force) FORCE=1 ;;
            --) usage_error "unexpected argument: --" ;;
            -*) usage_error "unknown option: $1" ;;
            *) usage_error "unexpected argument: $1" ;;
        esac
        shift
    done
    MODE=${where:-personal}
    if ((UNINSTALL)) && [[ -n $FROM_URL || -n $REF ]]; then
        usage_error "--from and --ref cannot be combined with --uninstall"
    fi
}

# pick_where NEW: set parse_args's local "where" (the install location) to NEW, unless another
# one (--agents, --project or --dest) was already chosen.
pick_where() {
    local new=$1 first second
    if [[ -n $where && $where != "$new" ]]; then
        # The two options are named in a fixed order, whichever came first on the command line.
        for first in agents project dest; do
            if [[ $first == "$where" || $first == "$new" ]]; then
                break
            fi
        done
        second=$where
        if [[ $second == "$first" ]]; then
            second=$new
        fi
        usage_error "--$first and --$second cannot be combined"
    fi
    where=$new
}

set_value_option() {
    local option=$1 value=$2
    if [[ $value == *$'\n'* ]]; then
        usage_error "$option: the value must be a single line"
    fi
    case $option in
        --dest) DEST_DIR=$value ;;
        --from) FROM_URL=$value ;;
        --ref) REF=$value ;;
    esac
}

# ------------------------------------------------------------------------------------ layout

resolve_layout() {
    case $MODE in
        personal | agents)
            [[ -n ${HOME:-} ]] || die "HOME is not set; say where to install with --dest DIR"
            [[ $HOME == /* ]] || die "HOME is not an absolute path ($HOME); use --dest DIR"
            BASE=$(abspath "$HOME")
            if [[ $MODE == agents ]]; then
                SKILLS_DIR="$BASE/.agents/skills"
            else
                SKILLS_DIR="$BASE/.claude/skills"
            fi
            ;;
        project)
            BASE=$(abspath "${PROJECT_DIR:-.}")
            [[ -d $BASE ]] || die "the project directory does not exist: $BASE"
            SKILLS_DIR="$BASE/.claude/skills"
            ;;
        dest)
            SKILLS_DIR=$(abspath "$DEST_DIR")
            BASE=$SKILLS_DIR
            if [[ -e $SKILLS_DIR && ! -d $SKILLS_DIR ]]; then
                die "--dest must be a directory: $SKILLS_DIR is a file"
            fi
            ;;
    esac
    TARGET="$SKILLS_DIR/$SKILL_NAME"
    BACKUP_ROOT="$SKILLS_DIR/$BACKUPS_NAME"
    if [[ $MODE == dest ]]; then
        # The directory named with --dest was chosen explicitly, so it may be a symlink.
        CHECK_PATHS=("$TARGET")
    else
        CHECK_PATHS=("${SKILLS_DIR%/*}" "$SKILLS_DIR" "$TARGET")
    fi
    local path
    for path in "${CHECK_PATHS[@]}"; do
        check_path "$path"
    done
}

# check_path PATH: refuse a symlink, or a non-directory where a directory must go.
check_path() {
    local path=$1 real="" hint=""
    if [[ -L $path ]]; then
        if [[ -d $path ]]; then
            real=$(cd -P -- "$path" && pwd -P) || real=""
        fi
        if [[ -n $real && $path == "$TARGET" ]]; then
            hint="It points to $real; remove the link if install.sh should manage the skill here."
        elif [[ -n $real && $path == "$SKILLS_DIR" ]]; then
            hint="To install into the link's destination, name it: --dest $real"
        elif [[ -n $real ]]; then
            hint="To install into the link's destination, name it: --dest $real/${SKILLS_DIR##*/}"
        fi
        local details=("install.sh only writes into real directories, so that it never changes files elsewhere.")
        if [[ -n $hint ]]; then
            details+=("$hint")
        fi
        die "refusing to write through a symbolic link: $path -> $(readlink "$path")" "${details[@]}"
    fi
    if [[ -e $path && ! -d $path ]]; then
        die "refusing: $path exists and is not a directory"
    fi
}

# ------------------------------------------------------------------------------------ source

locate_source() {
    local script_dir=""
    if [[ -n $SCRIPT_PATH && -f $SCRIPT_PATH ]]; then
        script_dir=$(cd -P -- "$(dirname -- "$SCRIPT_PATH")" && pwd -P)
    fi
    if [[ -z $FROM_URL && -z $REF && -n $script_dir && -f $script_dir/SKILL.md ]]; then
        SRC=$script_dir
        SOURCE_DESC=$script_dir
        VERSION=$(version_of "$SRC")
        return 0
    fi
    if [[ -z $FROM_URL && -z $REF ]]; then
        say "No SKILL.md beside install.sh: downloading the skill."
    fi
    clone_source "${FROM_URL:-$DEFAULT_REPO_URL}"
}

clone_source() {
    local url=$1 shown=$1 commit args re='^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@(.*)$'
    # Never print or record credentials embedded in the URL (https://user:token@host/...).
    if [[ $url =~ $re ]]; then
        shown=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
    fi
    if ! command -v git >/dev/null 2>&1; then
        die "git is needed to download the skill from $shown, but it is not on PATH." \
            "Install git, or clone the repository some other way and run its install.sh."
    fi
    CLONE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$SKILL_NAME-install.XXXXXX")
    args=(clone --quiet --depth 1 --single-branch)
    if [[ -n $REF ]]; then
        args+=(--branch "$REF")
    fi
    args+=(-- "$url" "$CLONE_TMP/src")
    say "Cloning $shown${REF:+ (ref $REF)} into a temporary directory..."
    if ! GIT_TERMINAL_PROMPT=0 git -c advice.detachedHead=false "${args[@]}" </dev/null; then
        die "could not clone $shown${REF:+ at ref $REF} (git's message is above)." \
            "Check the URL and that --ref names an existing tag or branch."
    fi
    SRC="$CLONE_TMP/src"
    [[ -f $SRC/SKILL.md ]] || die "the repository $shown${REF:+ at $REF} has no SKILL.md at its top"
    commit=$(git -C "$SRC" rev-parse --short HEAD </dev/null)
    SOURCE_DESC="$shown${REF:+ @ $REF} (commit $commit)"
    VERSION=$(version_of "$SRC")
}

# version_of DIR: version = "..." from the [project] table of DIR/pyproject.toml, else
# `git describe`, else "unknown".
version_of() {
    local dir=$1 line section="" described="" re='^version[[:space:]]*=[[:space:]]*"([^"]*)"'
    if [[ -f $dir/pyproject.toml ]]; then
        while IFS= read -r line || [[ -n $line ]]; do
            line=${line%$'\r'}
            if [[ $line == "["* ]]; then
                section=$line
            elif [[ $section == "[project]" && $line =~ $re ]]; then
                printf '%s\n' "${BASH_REMATCH[1]}"
                return 0
            fi
        done <"$dir/pyproject.toml"
    fi
    if [[ -e $dir/.git ]] && command -v git >/dev/null 2>&1; then
        described=$(git -C "$dir" describe --tags --always </dev/null 2>/dev/null) || described=""
        if [[ -n $described ]]; then
            printf '%s\n' "$described"
            return 0
        fi
    fi
    printf 'unknown\n'
}

# collect_payload: PAYLOAD_SUMS = "SHA256  PATH" for SKILL.md and every file under the
# PAYLOAD_DIRS, hidden files, caches, databases and *.egg-info left out.
collect_payload() {
    local top listing line kind rel files="SKILL.md" name
    [[ ! -L $SRC/SKILL.md && -f $SRC/SKILL.md ]] || die "no SKILL.md (a regular file) in $SRC"
    name=$(skill_name_of "$SRC/SKILL.md")
    if [[ $name != "$SKILL_NAME" ]]; then
        die "the source SKILL.md at $SRC declares name: '${name}', not '$SKILL_NAME'; refusing"
    fi
    for top in "${PAYLOAD_DIRS[@]}"; do
        if [[ -L $SRC/$top ]]; then
            die "the source's $top/ is a symbolic link; refusing to copy through it: $SRC/$top"
        fi
        [[ -d $SRC/$top ]] || continue
        listing=$(list_tree "$SRC/$top" "$top")
        while IFS= read -r line; do
            [[ -n $line ]] || continue
            kind=${line%% *}
            rel=${line#* }
            if [[ /$rel == */.* ]]; then
                continue # hidden files and directories are never part of the skill
            fi
            case /$rel in
                *.db | *.sqlite | *.sqlite3 | *.egg-info | *.egg-info/*)
                    continue # local databases and build metadata either
                    ;;
            esac
            case $kind in
                F) files+=$'\n'$rel ;;
                D | J) ;;
                L) die "the source contains a symbolic link; refusing to copy it: $SRC/$rel" ;;
                *) die "the source contains a special file; refusing to copy it: $SRC/$rel" ;;
            esac
        done <<<"$listing"
    done
    files=$(sorted_lines "$files")
    PAYLOAD_SUMS=$(sha_lines "$SRC" "$files")
}

# -------------------------------------------------------------------------- installed copy

# read_manifest FILE: M_SKILL, M_VERSION, M_SOURCE, M_SUMS (in the file's order, which
# install.sh writes sorted by path), M_FILES, M_DIRS.
read_manifest() {
    local file=$1 line rel sums="" re_sum='^([0-9a-f]{64})  (.+)$' re_kv='^([a-z]+): (.*)$'
    M_SKILL=""
    M_VERSION=""
    M_SOURCE=""
    while IFS= read -r line || [[ -n $line ]]; do
        if [[ -z $line || $line == "#"* ]]; then
            continue
        elif [[ $line =~ $re_sum ]]; then
            rel=${BASH_REMATCH[2]}
            if ! safe_rel "$rel"; then
                die "the manifest $file lists an unsafe path: '$rel'; refusing to use it" \
                    "Move $TARGET out of the way (it may not be what install.sh installed) and re-run."
            fi
            sums+="${BASH_REMATCH[1]}  $rel"$'\n'
        elif [[ $line =~ $re_kv ]]; then
            case ${BASH_REMATCH[1]} in
                skill) M_SKILL=${BASH_REMATCH[2]} ;;
                version) M_VERSION=${BASH_REMATCH[2]} ;;
                source) M_SOURCE=${BASH_REMATCH[2]} ;;
            esac
        else
            die "the manifest $file is damaged (unreadable line: '$line'); refusing to use it" \
                "Move $TARGET out of the way and re-run to install afresh."
        fi
    done <"$file"
    if [[ $M_SKILL != "$SKILL_NAME" ]]; then
        die "the manifest $file belongs to skill '$M_SKILL', not '$SKILL_NAME'; refusing"
    fi
    M_SUMS=${sums%$'\n'}
    files_of "$M_SUMS"
    M_FILES=$RESULT
    dirs_of "$M_FILES"
    M_DIRS=$RESULT
}

# inspect_installed: compare $TARGET with the manifest just read. CHANGES lists, one a line,
# what differs ("modified: x", "missing: x", "added: x"); empty when untouched. Also sets
# W_FILES / W_DIRS (plain files and directories seen), W_PRESENT (installed files still
# there) and W_JUNK (caches to ignore).
inspect_installed() {
    local listing line kind rel added="" reported="" actual
    listing=$(list_tree "$TARGET" "")
    W_FILES=""
    W_DIRS=""
    W_JUNK=""
    # list_tree walks depth first, so a directory comes before what it holds: inside an
    # added directory only the directory itself is reported.
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        kind=${line%% *}
        rel=${line#* }
        if [[ $rel == "$MANIFEST_NAME" && $kind == F ]]; then
            continue
        fi
        case $kind in
            F) W_FILES+=$rel$'\n' ;;
            D) W_DIRS+=$rel$'\n' ;;
            J) W_JUNK+=$rel$'\n' ;;
        esac
        if [[ -n $reported ]] && in_reported "$rel" "$reported"; then
            continue
        fi
        case $kind in
            F) has_line "$M_FILES" "$rel" || added+="added:    $rel"$'\n' ;;
            D)
                if ! has_line "$M_DIRS" "$rel"; then
                    added+="added:    $rel/"$'\n'
                    reported+=$rel/$'\n'
                fi
                ;;
            J) ;;
            L) added+="added:    $rel (symbolic link)"$'\n' ;;
            *) added+="added:    $rel (special file)"$'\n' ;;
        esac
    done <<<"$listing"
    W_FILES=${W_FILES%$'\n'}
    W_DIRS=${W_DIRS%$'\n'}
    W_JUNK=${W_JUNK%$'\n'}
    lines_both "$M_FILES" "$W_FILES"
    W_PRESENT=$RESULT
    actual=$(sha_lines "$TARGET" "$W_PRESENT")
    CHANGES=""
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        rel=${line#*  }
        if ! has_line "$W_PRESENT" "$rel"; then
            CHANGES+="missing:  $rel"$'\n'
        elif ! has_line "$actual" "$line"; then
            CHANGES+="modified: $rel"$'\n'
        fi
    done <<<"$M_SUMS"
    CHANGES+=$added
    CHANGES=${CHANGES%$'\n'}
}

# in_reported PATH DIRS: whether PATH lies inside one of DIRS (lines ending in "/").
in_reported() {
    local dir
    while IFS= read -r dir; do
        if [[ -n $dir && $1 == "$dir"?* ]]; then
            return 0
        fi
    done <<<"$2"
    return 1
}

# is_empty_dir DIR
is_empty_dir() {
    local entry
    for entry in "$1"/*; do
        [[ -n $entry ]] && return 1
    done
    return 0
}

# new_backup_dir: a fresh, unused path under BACKUP_ROOT (BACKUP_ROOT is created).
new_backup_dir() {
    local stamp candidate n=1
    check_path "$BACKUP_ROOT"
    if [[ ! -d $BACKUP_ROOT ]]; then
        mkdir -- "$BACKUP_ROOT"
    fi
    stamp=$(date '+%Y%m%d%H%M%S')
    candidate="$BACKUP_ROOT/$stamp"
    while [[ -e $candidate || -L $candidate ]]; do
        n=$((n + 1))
        candidate="$BACKUP_ROOT/$stamp-$n"
    done
    printf '%s\n' "$candidate"
}

# refuse_other_skill: never touch a directory whose SKILL.md names another skill.
refuse_other_skill() {
    local name
    if [[ -f $TARGET/SKILL.md && ! -L $TARGET/SKILL.md ]]; then
        name=$(skill_name_of "$TARGET/SKILL.md")
        if [[ $name != "$SKILL_NAME" ]]; then
            die "refusing: $TARGET holds a different skill (its SKILL.md says name: '$name')." \
                "install.sh never replaces or removes another skill, even with --force."
        fi
    fi
}

# ----------------------------------------------------------------------------------- install

do_install() {
    local prior="none" backup_needed=0 name plan_add plan_update plan_remove new_files
    local line rel dir_mode nfiles backup_dir="" now old_version="" dirs dir n_add n_update

    locate_source
    pick_sha_tool
    collect_payload
    files_of "$PAYLOAD_SUMS"
    new_files=$RESULT

    if [[ -e $TARGET ]]; then
        refuse_other_skill
        if [[ -L $TARGET/$MANIFEST_NAME ]]; then
            die "refusing: $TARGET/$MANIFEST_NAME is a symbolic link"
        elif [[ -f $TARGET/$MANIFEST_NAME ]]; then
            read_manifest "$TARGET/$MANIFEST_NAME"
            old_version=${M_VERSION:-unknown}
            inspect_installed
            if [[ -z $CHANGES ]]; then
                if [[ $M_SUMS == "$PAYLOAD_SUMS" && $M_VERSION == "$VERSION" ]]; then
                    say "$SKILL_NAME $VERSION is already installed and up to date in $TARGET"
                    say "Nothing to do."
                    return 0
                fi
                prior=managed
            elif ((FORCE)); then
                prior=edited
                backup_needed=1
            else
                {
                    printf '%s: error: refusing to overwrite %s: it was changed since install.sh installed it:\n' "$PROG" "$TARGET"
                    print_list "  " "$CHANGES"
                    printf 'Re-run with --force to replace it anyway; the current copy is first moved to\n'
                    printf '%s/<timestamp>/.\n' "$BACKUP_ROOT"
                } >&2
                exit 1
            fi
        elif is_empty_dir "$TARGET"; then
            prior=empty
        else
            name=""
            if [[ -f $TARGET/SKILL.md && ! -L $TARGET/SKILL.md ]]; then
                name=$(skill_name_of "$TARGET/SKILL.md")
            fi
            if [[ $name != "$SKILL_NAME" ]]; then
                die "refusing: $TARGET is not empty and was not installed by install.sh" \
                    "(no $MANIFEST_NAME, and no SKILL.md naming $SKILL_NAME). Move it away first."
            elif ((FORCE)); then
                prior=unmanaged
                backup_needed=1
            else
                die "refusing: $TARGET holds a copy of $SKILL_NAME that install.sh did not install" \
                    "(no $MANIFEST_NAME), so it cannot tell your edits from ours." \
                    "Re-run with --force to replace it; it is first moved to $BACKUP_ROOT/<timestamp>/."
            fi
        fi
    fi

    # What changes, file by file.
    case $prior in
        managed | edited)
            lines_minus "$new_files" "$M_FILES"
            plan_add=$RESULT
            lines_minus "$M_FILES" "$new_files"
            plan_remove=$RESULT
            plan_update=""
            while IFS= read -r line; do
                [[ -n $line ]] || continue
                rel=${line#*  }
                if has_line "$M_FILES" "$rel" && ! has_line "$M_SUMS" "$line"; then
                    plan_update+=$rel$'\n'
                fi
            done <<<"$PAYLOAD_SUMS"
            plan_update=${plan_update%$'\n'}
            ;;
        *)
            plan_add=$new_files
            plan_update=""
            plan_remove=""
            ;;
    esac
    count_lines "$new_files"
    nfiles=$RESULT

    if ((DRY_RUN)); then
        say "Dry run: nothing will be written."
        say "Would install $SKILL_NAME $VERSION ($nfiles files) from $SOURCE_DESC"
        say "  into $TARGET"
        case $prior in
            managed) say "  upgrading the untouched install of version $old_version (from ${M_SOURCE:-unknown})" ;;
            edited)
                say "  replacing an install you changed (--force):"
                print_list "    " "$CHANGES"
                say "  the current copy would be moved to $BACKUP_ROOT/<timestamp>/"
                ;;
            unmanaged) say "  replacing a copy without manifest (--force); it would be moved to $BACKUP_ROOT/<timestamp>/" ;;
        esac
        if [[ $MODE != dest && ! -d ${SKILLS_DIR%/*} ]]; then
            say "  would create ${SKILLS_DIR%/*}"
        fi
        if [[ ! -d $SKILLS_DIR ]]; then
            say "  would create $SKILLS_DIR"
        fi
        print_list "  add     " "$plan_add"
        print_list "  update  " "$plan_update"
        print_list "  remove  " "$plan_remove"
        return 0
    fi

    # Create the skills directory (its parents were checked not to be symlinks).
    if [[ $MODE == dest ]]; then
        if [[ ! -d $SKILLS_DIR ]]; then
            mkdir -p -- "$SKILLS_DIR"
            say "Created $SKILLS_DIR"
        fi
    else
        if [[ ! -d ${SKILLS_DIR%/*} ]]; then
            mkdir -- "${SKILLS_DIR%/*}"
        fi
        if [[ ! -d $SKILLS_DIR ]]; then
            mkdir -- "$SKILLS_DIR"
        fi
    fi

    # Stage the new copy next to the target (same filesystem, so the swap is two renames).
    STAGE_DIR=$(mktemp -d "$SKILLS_DIR/.$SKILL_NAME.stage.XXXXXX")
    dir_mode=$(printf '%o' "$((0777 & ~$(umask)))")
    chmod "$dir_mode" "$STAGE_DIR"
    # One mkdir, then one cp per directory.
    dirs_of "$new_files"
    dirs=$RESULT
    local -a batch=()
    while IFS= read -r dir; do
        if [[ -n $dir ]]; then
            batch+=("$STAGE_DIR/$dir")
        fi
    done <<<"$dirs"
    if ((${#batch[@]} > 0)); then
        mkdir -p -- "${batch[@]}"
    fi
    while IFS= read -r dir; do
        batch=()
        while IFS= read -r rel; do
            if [[ $rel == */* && ${rel%/*} == "$dir" ]] || [[ $rel != */* && -z $dir ]]; then
                batch+=("$SRC/$rel")
            fi
        done <<<"$new_files"
        if ((${#batch[@]} > 0)); then
            cp -- "${batch[@]}" "$STAGE_DIR/${dir:+$dir/}"
        fi
    done <<<"$(printf '\n%s' "$dirs")"
    now=$(date -u '+%Y-%m-%dT%H:%M:%SZ')
    {
        printf '# Written by install.sh for the %s Agent Skill. Do not edit: install.sh\n' "$SKILL_NAME"
        printf '# reads it to upgrade or uninstall, and to tell your own edits from the files it put here.\n'
        printf 'skill: %s\n' "$SKILL_NAME"
        printf 'version: %s\n' "$VERSION"
        printf 'source: %s\n' "${SOURCE_DESC//$'\n'/ }"
        printf 'installed: %s\n' "$now"
        printf '# sha256  path\n'
        printf '%s\n' "$PAYLOAD_SUMS"
    } >"$STAGE_DIR/$MANIFEST_NAME"
    # The staged copy must match what was read (catches a source changing under our feet).
    if [[ $(sha_lines "$STAGE_DIR" "$new_files") != "$PAYLOAD_SUMS" ]]; then
        die "the copy does not match the source (was it changing?); nothing was installed"
    fi

    # Swap: move the old copy aside (or into the backup), move the new one in.
    if [[ -e $TARGET ]]; then
        if ((backup_needed)); then
            backup_dir=$(new_backup_dir)
            RESTORE_FROM=$backup_dir
            mv -- "$TARGET" "$backup_dir"
        else
            ASIDE_DIR=$(mktemp -d "$SKILLS_DIR/.$SKILL_NAME.old.XXXXXX")
            RESTORE_FROM="$ASIDE_DIR/old"
            mv -- "$TARGET" "$RESTORE_FROM"
        fi
    fi
    if [[ -e $TARGET || -L $TARGET ]]; then
        die "$TARGET appeared while installing; nothing was changed"
    fi
    mv -- "$STAGE_DIR" "$TARGET"
    STAGE_DIR=""
    RESTORE_FROM=""
    if [[ -n $ASIDE_DIR ]]; then
        rm -rf -- "$ASIDE_DIR"
        ASIDE_DIR=""
    fi

    # Check the result.
    read_manifest "$TARGET/$MANIFEST_NAME"
    inspect_installed
    if [[ -n $CHANGES ]]; then
        die "the installed copy in $TARGET does not match its manifest:" "$CHANGES"
    fi
    name=$(skill_name_of "$TARGET/SKILL.md")
    if [[ $name != "${TARGET##*/}" ]]; then
        die "installed, but SKILL.md declares name: '$name', which differs from the directory name '${TARGET##*/}'"
    fi

    case $prior in
        managed) say "Upgraded $SKILL_NAME $old_version -> $VERSION in $TARGET" ;;
        *) say "Installed $SKILL_NAME $VERSION in $TARGET" ;;
    esac
    say "  source:   $SOURCE_DESC"
    count_lines "$plan_add"
    n_add=$RESULT
    count_lines "$plan_update"
    n_update=$RESULT
    count_lines "$plan_remove"
    say "  files:    $nfiles ($n_add added, $n_update updated, $RESULT removed), listed with sha256 in $MANIFEST_NAME"
    say "  checked:  SKILL.md declares name: $name, matching its directory; every file matches the manifest"
    if [[ -n $backup_dir ]]; then
        say "  backup:   the previous copy was moved to $backup_dir"
    fi
    case $MODE in
        personal)
            say "Claude Code finds personal skills at ~/.claude/skills/<name>/SKILL.md, in every project."
            say "Start a new Claude Code session (or restart it) to load \"$SKILL_NAME\"."
            ;;
        agents)
            say "Codex and Gemini CLI (and Cursor, Copilot, OpenCode) find skills at ~/.agents/skills/<name>/SKILL.md."
            say "Start a new session (or restart the agent) to load \"$SKILL_NAME\"."
            ;;
        project)
            say "Claude Code finds project skills at .claude/skills/<name>/SKILL.md inside the project"
            say "($BASE). Start a new session there to load \"$SKILL_NAME\"; commit"
            say ".claude/skills/$SKILL_NAME to share it with everyone working on the project."
            ;;
        dest)
            say "Agents that read skills from $SKILLS_DIR find it as $SKILL_NAME/SKILL.md."
            say "Start a new session to load it. (Claude Code itself looks in ~/.claude/skills/ and in"
            say "a project's .claude/skills/; see --help.)"
            ;;
    esac
}

# --------------------------------------------------------------------------------- uninstall

do_uninstall() {
    local rel dir backup_dir="" removed leftover junk_to_remove="" parent

    if [[ ! -e $TARGET ]]; then
        say "$SKILL_NAME is not installed in $TARGET; nothing to uninstall."
        return 0
    fi
    refuse_other_skill
    if [[ -L $TARGET/$MANIFEST_NAME ]]; then
        die "refusing: $TARGET/$MANIFEST_NAME is a symbolic link"
    fi
    if [[ ! -f $TARGET/$MANIFEST_NAME ]]; then
        die "refusing to uninstall: $TARGET has no $MANIFEST_NAME, so install.sh did not install it" \
            "(or its record was deleted) and cannot tell which files are its own. Remove it by hand."
    fi
    pick_sha_tool
    read_manifest "$TARGET/$MANIFEST_NAME"
    inspect_installed
    if [[ -n $CHANGES ]] && ((!FORCE)); then
        {
            printf '%s: error: refusing to uninstall %s: it was changed since install.sh installed it:\n' "$PROG" "$TARGET"
            print_list "  " "$CHANGES"
            printf 'Re-run with --force to remove the installed files anyway (files you added stay; a\n'
            printf 'backup of the whole directory is first kept in %s/<timestamp>/).\n' "$BACKUP_ROOT"
        } >&2
        exit 1
    fi
    removed=$W_PRESENT
    # Caches are removed only where install.sh put files (the top or one of its directories).
    while IFS= read -r rel; do
        [[ -n $rel ]] || continue
        parent=""
        if [[ $rel == */* ]]; then
            parent=${rel%/*}
        fi
        if [[ -z $parent ]] || has_line "$M_DIRS" "$parent"; then
            junk_to_remove+=$rel$'\n'
        fi
    done <<<"$W_JUNK"
    junk_to_remove=${junk_to_remove%$'\n'}

    if ((DRY_RUN)); then
        say "Dry run: nothing will be written."
        say "Would uninstall $SKILL_NAME ${M_VERSION:-unknown} from $TARGET:"
        print_list "  remove  " "$removed"
        print_list "  remove  " "$junk_to_remove"
        say "  remove  $MANIFEST_NAME"
        if [[ -n $CHANGES ]]; then
            say "  it was changed since it was installed (--force):"
            print_list "    " "$CHANGES"
            say "  a backup would first be kept in $BACKUP_ROOT/<timestamp>/"
        fi
        return 0
    fi

    if [[ -n $CHANGES ]]; then
        backup_dir=$(new_backup_dir)
        cp -RPp -- "$TARGET" "$backup_dir"
    fi
    while IFS= read -r rel; do
        if [[ -n $rel ]]; then
            rm -f -- "$TARGET/$rel"
        fi
    done <<<"$removed"
    while IFS= read -r rel; do
        if [[ -n $rel ]]; then
            rm -rf -- "${TARGET:?}/$rel"
        fi
    done <<<"$junk_to_remove"
    rm -f -- "$TARGET/$MANIFEST_NAME"
    # Directories that held installed files, deepest first, if nothing else is in them.
    while IFS= read -r dir; do
        if [[ -n $dir ]] && has_line "$W_DIRS" "$dir" && is_empty_dir "$TARGET/$dir"; then
            rmdir -- "$TARGET/$dir"
        fi
    done <<<"$(printf '%s\n' "$M_DIRS" | LC_ALL=C sort -r)"
    if is_empty_dir "$TARGET"; then
        rmdir -- "$TARGET"
        say "Uninstalled $SKILL_NAME ${M_VERSION:-unknown}: removed $TARGET"
    else
        leftover=$(list_tree "$TARGET" "" | while IFS= read -r rel; do printf '%s\n' "${rel#* }"; done)
        say "Uninstalled $SKILL_NAME ${M_VERSION:-unknown} from $TARGET; kept what install.sh did not install:"
        print_list "  " "$leftover"
    fi
    if [[ -n $backup_dir ]]; then
        say "A backup of the changed copy is in $backup_dir"
    fi
    if [[ -d $BACKUP_ROOT ]]; then
        say "Backups made by install.sh --force stay in $BACKUP_ROOT; delete them when no longer needed."
    fi
    say "Start a new session so the assistant stops offering the skill."
}

# -------------------------------------------------------------------------------------- main

main() {
    shopt -s nullglob dotglob
    # Let failures inside $(...) stop the script too (bash >= 4.4; older bash goes on without).
    shopt -s inherit_errexit 2>/dev/null || true
    parse_args "$@"
    trap cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    resolve_layout
    if ((UNINSTALL)); then
        do_uninstall
    else
        do_install
    fi
}

main "$@"
