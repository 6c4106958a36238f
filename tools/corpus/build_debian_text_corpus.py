#!/usr/bin/env python3
"""Builds a large plain-text corpus from the texts every Debian system ships, for the token store's benchmarks.

Sources: every changelog, copyright, README and .txt file under /usr/share/doc and /usr/share/info (gunzipped),
every man page under /usr/share/man (gunzipped; comments dropped, request names and font escapes stripped), and the
text files named on the command line (e.g. the repository's data/kjv-pentateuch.txt).
Documents: a blank line ends one; a run of lines is cut at about 4,000 characters; tabs become spaces; one document
a line in the output (the layout `Benchmarks token-store build` reads). With --copies N the base is written N times,
every other copy with its lines in reverse order, to reach a corpus larger than memory from the text at hand.

Usage: build_debian_text_corpus.py OUT.txt [--copies N] [extra text files...]
"""
import gzip, os, re, sys

DOC_NAMES = re.compile(r"^(changelog.*|copyright|readme.*|.*\.txt)(\.gz)?$", re.IGNORECASE)
FONT = re.compile(r"\\f(\(..|\[[^]]*\]|.)")
ESCAPE = re.compile(r"\\(\(..|\*.|\[[^]]*\]|[&|^%e-])")
CUT = 4000

def read(path):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except (OSError, EOFError):
        return ""

def man_text(text):
    lines = []
    for line in text.split("\n"):
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if line.startswith((".", "'")):
            parts = line[1:].split(None, 1)
            line = parts[1] if len(parts) > 1 else ""
        line = ESCAPE.sub(lambda m: "-" if m.group(1) == "-" else "", FONT.sub("", line))
        lines.append(line.replace('"', "") if line.startswith("SH ") else line)
    return "\n".join(lines)

def documents(text):
    current, size = [], 0
    for line in text.replace("\t", " ").replace("\r", "").split("\n"):
        line = line.strip()
        if not line:
            if current:
                yield " ".join(current)
            current, size = [], 0
            continue
        current.append(line)
        size += len(line) + 1
        if size >= CUT:
            yield " ".join(current)
            current, size = [], 0
    if current:
        yield " ".join(current)

def sources(extra):
    for root in ("/usr/share/doc", "/usr/share/info"):
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                path = os.path.join(folder, name)
                if DOC_NAMES.match(name) and os.path.isfile(path) and not os.path.islink(path):
                    yield read(path)
    for folder, _, files in os.walk("/usr/share/man"):
        for name in sorted(files):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and not os.path.islink(path):
                yield man_text(read(path))
    for path in extra:
        yield read(path)

def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out, copies, extra = args[0], 1, []
    rest = args[1:]
    while rest:
        if rest[0] == "--copies":
            copies, rest = int(rest[1]), rest[2:]
        else:
            extra.append(rest[0]); rest = rest[1:]
    base = [d for text in sources(extra) for d in documents(text)]
    temporary = out + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        for copy in range(copies):
            for line in (base if copy % 2 == 0 else reversed(base)):
                f.write(line + "\n")
    os.replace(temporary, out)
    size = os.path.getsize(out)
    print(f"{out}: {len(base):,} documents a copy, {copies} copies, {size:,} bytes", file=sys.stderr)

if __name__ == "__main__":
    main()
