#!/usr/bin/env python3
"""Builds debian-descriptions.tsv: the long descriptions of Debian 12 (bookworm) packages, labelled by their archive
section, from bookworm's package lists (main, amd64) and their English descriptions (`Translation-en`), fetched by apt
into a folder of their own (the system's lists are not touched):

    mkdir -p /tmp/aptlists/partial
    apt-get -o Dir::State::Lists=/tmp/aptlists -o Acquire::Languages=en update
    python3 build_debian_descriptions.py /tmp/aptlists > artifacts/text-classification/debian-descriptions.tsv

Fifteen sections, 1,000 packages each (15,000 rows): packages sorted by name, a section's first 1,000 whose
description (the synopsis line and the long description, paragraph marks removed, whitespace collapsed) is at least
80 characters long and occurs once in the whole archive (descriptions shared by several packages, as -dbg or -doc
variants often have, are dropped so that no text sits on both sides of a split). The rows are sorted by label.
"""
import subprocess, sys, re, collections, glob, os

SECTIONS = ["admin", "devel", "doc", "games", "golang", "haskell", "java", "javascript", "libs", "net", "perl",
            "python", "rust", "science", "utils"]
PER_CLASS = 1000

def read(path):
    return subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", path], capture_output=True, text=True, check=True).stdout

def stanzas(text):
    for stanza in text.split("\n\n"):
        fields, current = {}, None
        for line in stanza.split("\n"):
            if line.startswith((" ", "\t")) and current:
                fields[current] += "\n" + line
            elif ":" in line:
                current, _, value = line.partition(":")
                fields[current] = value.strip()
        if "Package" in fields:
            yield fields

def packages(lists):
    """Each package of bookworm main (amd64) with its section and its English long description."""
    main = glob.glob(os.path.join(lists, "*_debian_dists_bookworm_main_binary-amd64_Packages*"))[0]
    english = glob.glob(os.path.join(lists, "*_debian_dists_bookworm_main_i18n_Translation-en*"))[0]
    descriptions = {t["Description-md5"]: t["Description-en"] for t in stanzas(read(english)) if "Description-md5" in t}
    for p in stanzas(read(main)):
        if p.get("Description-md5") in descriptions:
            p["Description"] = descriptions[p["Description-md5"]]
            yield p

def clean(description):
    lines = [l.strip() for l in description.split("\n")]
    return re.sub(r"\s+", " ", " ".join(l for l in lines if l != ".").replace("\t", " ")).strip()

def main(lists):
    stanzas = {}
    for p in packages(lists):
        stanzas.setdefault(p["Package"], p)
    counts = collections.Counter(clean(p["Description"]) for p in stanzas.values())
    rows = []
    for section in SECTIONS:
        kept = 0
        for name in sorted(stanzas):
            p = stanzas[name]
            if p.get("Section", "").split("/")[-1] != section:
                continue
            text = clean(p["Description"])
            if len(text) < 80 or counts[text] > 1:
                continue
            rows.append((text, section))
            kept += 1
            if kept == PER_CLASS:
                break
        if kept < PER_CLASS:
            sys.exit(f"section {section}: only {kept} packages qualify")
    sys.stdout.write("Text\tLabel\n")
    for text, label in rows:
        sys.stdout.write(f"{text}\t{label}\n")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/var/lib/apt/lists")
