"""Replaces one section of bench/RESULTS.md with the contents of a file.

Usage: python3 bench/lib/results.py SECTION_FILE
The section's first line is its heading ("## ..."); the old section is replaced up to
the next heading of any level, so hand-written subsections ("### ...") after it are
kept. A section not yet in the file is appended.
"""
import re
import sys

section = open(sys.argv[1]).read().rstrip("\n") + "\n"
path = "bench/RESULTS.md"
try:
    text = open(path).read()
except FileNotFoundError:
    text = "# Benchmark results\n"
heading = section.splitlines()[0]
start = text.find(heading + "\n")
if start < 0:
    text = text.rstrip("\n") + "\n\n" + section
else:
    nxt = re.search(r"^##+ ", text[start + len(heading):], re.M)
    end = start + len(heading) + nxt.start() if nxt else len(text)
    rest = text[end:]
    text = text[:start] + section + ("\n" + rest if rest else "")
open(path, "w").write(text)
