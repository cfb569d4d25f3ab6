"""Creates the side files that a .dy file's external<"path", offset>
constants name (escapes decoded as the parser does), each 4096 zero bytes.

usage: make_external_files.py FILE.dy DIR
"""
import os
import re
import sys

ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}

text = open(sys.argv[1]).read()
for m in re.finditer(r'external<"((?:[^"\\\n]|\\.)*)"', text):
    name = re.sub(r"\\(.)", lambda e: ESCAPES[e.group(1)], m.group(1))
    with open(os.path.join(sys.argv[2], name), "wb") as f:
        f.write(bytes(4096))
