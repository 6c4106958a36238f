#!/usr/bin/env python3
"""Builds fortunes.tsv: quotations of Debian's `fortunes` package, labelled by the fortune file they come from.

    apt-get download fortunes && dpkg-deb -x fortunes_*.deb fortunes-pkg
    python3 build_fortunes.py fortunes-pkg/usr/share/games/fortunes > fortunes.tsv

Twelve files of one topic each (the mixed files `fortunes`, `cookie` and `miscellaneous` are left out), at most 500
quotations a file (the first ones, in file order), whitespace collapsed to single spaces, tabs removed; quotations
shorter than 20 characters and texts that occur twice are dropped. The rows stay sorted by label, as the files are.
"""
import sys, os, re

FILES = ["art", "computers", "definitions", "law", "linux", "men-women", "people", "politics", "science",
         "songs-poems", "work", "zippy"]
PER_CLASS = 500

def main(folder):
    seen, rows = set(), []
    for name in FILES:
        text = open(os.path.join(folder, name), encoding="utf-8", errors="replace").read()
        kept = 0
        for quote in text.split("\n%\n"):
            quote = re.sub(r"\s+", " ", quote.replace("%", " ")).strip()
            if len(quote) < 20 or quote in seen:
                continue
            seen.add(quote)
            rows.append((quote, name))
            kept += 1
            if kept == PER_CLASS:
                break
    sys.stdout.write("Text\tLabel\n")
    for quote, label in rows:
        sys.stdout.write(f"{quote}\t{label}\n")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/games/fortunes")
