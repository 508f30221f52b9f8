"""scripts/examples' body: finds the marked example outputs in README.md and docs/*.md, runs their
commands, and rewrites (--update) or checks (--check) the blocks. See scripts/examples and docs/testing.md."""

import argparse
import concurrent.futures
import difflib
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

MARKER = re.compile(r"^<!-- output of(?: \(([^)]*)\))?: (.+?) -->\s*$")
FENCE = re.compile(r"^(```+|~~~+)")
PROGRESS = re.compile(r"^\[\d+/\d+\] ")
COMMAND_TIMEOUT_S = 300


class Block:
    def __init__(self, path, marker_index, options, command, start, end):
        self.path = path  # relative to the repository root
        self.marker_index = marker_index  # 0-based index of the marker line
        self.options = options
        self.command = command
        self.start = start  # index of the first content line (after the opening fence)
        self.end = end  # index of the closing fence

    @property
    def name(self):
        return f"{self.path}:{self.marker_index + 1}"


def parse_options(text, where):
    opts = {"stream": "stdout", "no_progress": False, "cwd": None, "tmpdir": False}
    if text is None:
        return opts
    for word in (w.strip() for w in text.split(",")):
        if word in ("stdout", "stderr", "both"):
            opts["stream"] = word
        elif word == "no-progress":
            opts["no_progress"] = True
        elif word == "tmpdir":
            opts["tmpdir"] = True
        elif word.startswith("cwd="):
            opts["cwd"] = word[len("cwd="):]
        else:
            raise SystemExit(f"examples: {where}: unknown option {word!r} (stdout, stderr, both, no-progress, "
                             "tmpdir, cwd=DIR)")
    if opts["tmpdir"] and opts["cwd"]:
        raise SystemExit(f"examples: {where}: tmpdir and cwd= exclude each other")
    return opts


def find_blocks(root):
    files = ["README.md"] + sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "docs", "*.md")))
    blocks = []
    for path in files:
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.read().split("\n")
        in_fence = None  # the fence of the block being read: a marker shown inside a block is no marker
        for i, line in enumerate(lines):
            fence_match = FENCE.match(line)
            if in_fence:
                if line.rstrip() == in_fence:
                    in_fence = None
                continue
            if fence_match:
                in_fence = fence_match.group(1)
                continue
            if not line.startswith("<!-- output of"):
                continue
            where = f"{path}:{i + 1}"
            m = MARKER.match(line)
            if not m:
                raise SystemExit(f"examples: {where}: malformed marker (want '<!-- output of: COMMAND -->' or "
                                 f"'<!-- output of (OPTIONS): COMMAND -->'): {line}")
            if i + 1 >= len(lines) or not FENCE.match(lines[i + 1]):
                raise SystemExit(f"examples: {where}: the marker is not directly followed by a fenced block")
            fence = FENCE.match(lines[i + 1]).group(1)
            end = next((j for j in range(i + 2, len(lines)) if lines[j].rstrip() == fence), None)
            if end is None:
                raise SystemExit(f"examples: {where}: the block after the marker is never closed")
            blocks.append(Block(path, i, parse_options(m.group(1), where), m.group(2), i + 2, end))
    return blocks


def run_block(block, root, cli_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODER_", "GITHUB_"))}
    env["PATH"] = cli_dir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    tmp = tempfile.mkdtemp(prefix="coder-examples.") if block.options["tmpdir"] else None
    cwd = tmp or os.path.join(root, block.options["cwd"] or ".")
    stream = block.options["stream"]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(["bash", "-c", block.command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL if stream == "stderr" else subprocess.PIPE,
                              stderr={"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE,
                                      "both": subprocess.STDOUT}[stream],
                              timeout=COMMAND_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {COMMAND_TIMEOUT_S}s", time.monotonic() - t0
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - t0
    raw = proc.stderr if stream == "stderr" else proc.stdout
    lines = [line.rstrip() for line in raw.decode("utf-8", errors="replace").split("\n")]
    if block.options["no_progress"]:
        lines = [line for line in lines if not PROGRESS.match(line)]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    if proc.returncode == 127 and not lines:
        return None, "command not found (exit 127)", elapsed
    if not lines:
        return None, f"printed nothing on {stream} (exit {proc.returncode})", elapsed
    if any(FENCE.match(line) for line in lines):
        return None, "its output holds a code fence, which would end the block", elapsed
    return lines, None, elapsed


# What legitimately differs between two runs of one example, in the order it is replaced.
_UNIT = r"(?:ns|µs|us|ms|s|min|h|B|KiB|MiB|GiB|TiB|PiB|kB|KB|MB|GB|TB|PB|%|x|/s)"
_STEPS = r"(?:api-drain|cancel-requests|notifications|ai-gateway|websocket-wait)"
NORMALISE = [
    # dates and times: 2026-11-24T04:19:37.265Z, 2026-12-02 13:30:11.078, 13:30:11
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"), "<date>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<time>"),
    # ids: UUIDs, long hex strings (hashes, experiment ids)
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{12,}\b"), "<id>"),
    # temporary paths
    (re.compile(r"(?:/tmp|/var/tmp|/dev/shm)/[^\s'\"()\[\],;]*"), "<tmp>"),
    # ports and pids
    (re.compile(r"\b((?:\d{1,3}\.){3}\d{1,3}|localhost|\[[0-9a-fA-F:]*\]):\d+"), r"\1:<port>"),
    (re.compile(r"\b(ports?) \d+"), r"\1 <port>"),
    (re.compile(r"\b(pid|PID|tid|TID|process) \d+"), r"\1 <pid>"),
    # durations in more than one unit (1m02s), numbers with their unit (1.85ms, 20.8MiB, 9 ms, 17%, 1/1158x,
    # 5.51/s), then any other decimal (a mean, a ratio)
    (re.compile(r"(?<![\w.])(?:\d+h)?\d+m\d+(?:\.\d+)?s\b"), "<N>"),
    (re.compile(r"(?<![\w.])(?:1/)?\d+(?:\.\d+)?(?: ?ms\b|" + _UNIT + r"(?![A-Za-z]))"), "<N>"),
    (re.compile(r"(?<![\w.])\d+\.\d+(?!\.?\d)"), "<N>"),
    # how many of a variant's stops fell in its fixed-tail window
    (re.compile(r"\b\d+ of (\d+) runs within\b"), r"<K> of \1 runs within"),
]


LOG_TAIL_LINE = re.compile(r"^\+<N> \S+\| ")
# A row with a load: its rate is a number; its latency cells are p50/p99 or "-" (nothing answered then).
TRAFFIC_ROW = re.compile(r"^(\S+) \d+ \d+ \d+ \d+ (\d+) (\d+) (\d+) \d+ (?:\S+/\S+|-) (?:\S+/\S+|-) ")


def normalise(lines):
    out = []
    for line in lines:
        for pattern, repl in NORMALISE:
            line = pattern.sub(repl, line)
        # Column widths follow the numbers: runs of spaces collapse, a header's rule of dashes is one dash.
        line = re.sub(r"(?<!\S)-+(?!\S)", "-", line)
        line = re.sub(r"[ \t]+", " ", line).strip()
        # A summary table row's dominant step: the slowest of a fast stop's steps changes from run to run.
        if re.match(r"^\S+ (?:gated|baseline) \d+ ", line):
            line = re.sub(r"\b" + _STEPS + r" <N>", "<step> <N>", line)
        # A traffic row's answered, during-stop, refused and closed-before-read counts, its achieved rate and
        # its latencies ("-" when nothing was answered during the stop) follow the timing of the stop;
        # dropped, open and errors are compared as they are.
        line = TRAFFIC_ROW.sub(r"\1 <n> <n> <n> <n> \2 \3 \4 <n> <latency> <latency> ", line)
        out.append(line)
    # A log tail's lines (`+10.001s stderr| ...`) come from the target's threads, whose order at one moment
    # varies (the gateway's session closing beside the shutdown's steps): each run of them is compared sorted.
    i = 0
    while i < len(out):
        j = i
        while j < len(out) and LOG_TAIL_LINE.match(out[j]):
            j += 1
        out[i:j] = sorted(out[i:j])
        i = max(j, i + 1)
    return out


def select(blocks, wanted):
    if not wanted:
        return blocks
    chosen = []
    for w in wanted:
        hits = [b for b in blocks if w in (b.path, b.name)]
        if not hits:
            raise SystemExit(f"examples: no marked block at {w} (scripts/examples --list shows them)")
        chosen += [b for b in hits if b not in chosen]
    return chosen


def main():
    ap = argparse.ArgumentParser(prog="scripts/examples")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--update", action="store_true")
    mode.add_argument("--list", action="store_true")
    ap.add_argument("--jobs", type=int, default=None,
                    help="examples run at once (default: --check all of them, as most wait on a stop; --update one "
                         "at a time, so the figures the docs show are not inflated by the others)")
    ap.add_argument("--cli-dir", required=True)
    ap.add_argument("blocks", nargs="*", metavar="FILE[:LINE]")
    args = ap.parse_args()
    root = os.getcwd()
    blocks = select(find_blocks(root), args.blocks)

    if args.list:
        for b in blocks:
            opts = [b.options["stream"]] + (["no-progress"] if b.options["no_progress"] else []) + \
                (["tmpdir"] if b.options["tmpdir"] else []) + ([f"cwd={b.options['cwd']}"] if b.options["cwd"] else [])
            print(f"{b.name}  ({', '.join(opts)})  {b.command}")
        return 0
    if not blocks:
        print("examples: no marked blocks", file=sys.stderr)
        return 0

    t0 = time.monotonic()
    jobs = args.jobs if args.jobs is not None else (1 if args.update else len(blocks))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda b: run_block(b, root, args.cli_dir), blocks))

    errors, drifted, changed = 0, 0, {}
    for b, (lines, error, elapsed) in zip(blocks, results):
        if error:
            print(f"examples: {b.name}: `{b.command}`: {error}", file=sys.stderr)
            errors += 1
            continue
        with open(os.path.join(root, b.path), encoding="utf-8") as f:
            current = f.read().split("\n")[b.start:b.end]
        if args.update:
            changed.setdefault(b.path, []).append((b, lines))
            print(f"examples: {b.name}: {'unchanged' if lines == current else 'updated'} ({elapsed:.1f}s)",
                  file=sys.stderr)
            continue
        want, got = normalise(current), normalise(lines)
        if want == got:
            print(f"examples: {b.name}: ok ({elapsed:.1f}s)", file=sys.stderr)
            continue
        drifted += 1
        print(f"examples: {b.name}: DRIFTED: the output of `{b.command}` no longer matches the block "
              f"(normalised; - the file, + the binary):", file=sys.stderr)
        sys.stderr.writelines(difflib.unified_diff([x + "\n" for x in want], [x + "\n" for x in got],
                                                   f"{b.name} (in the file)", f"{b.name} (from the binary)"))

    for path, updates in changed.items():
        full = os.path.join(root, path)
        with open(full, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for b, new in sorted(updates, key=lambda u: u[0].start, reverse=True):
            lines[b.start:b.end] = new
        with open(full, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))

    took = time.monotonic() - t0
    if args.update:
        print(f"examples: {len(blocks) - errors} of {len(blocks)} blocks regenerated in {took:.1f}s", file=sys.stderr)
        return 1 if errors else 0
    ok = len(blocks) - drifted - errors
    print(f"examples: {ok} of {len(blocks)} blocks match, {drifted} drifted, {errors} failed to run ({took:.1f}s)"
          + ("; scripts/examples --update rewrites them" if drifted else ""), file=sys.stderr)
    return 1 if drifted or errors else 0


if __name__ == "__main__":
    sys.exit(main())
