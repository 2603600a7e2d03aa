"""Set a student's project aside for a reset; run as the student.

Usage: reset_project.py PROJECT KEEP_FOLDER

Moves every entry of PROJECT but .git (the history, commits included) and
data/ into KEEP_FOLDER (new, beside the project in the home), as they were:
changed, added, ignored and broken files alike. The mlops_course role then
writes the project afresh around .git and data/. Prints one JSON object.
"""

import json
import os
import sys

project, keep = sys.argv[1:3]
KEPT_IN_PLACE = {".git", "data"}

os.mkdir(keep, 0o700)
moved = []
for name in sorted(os.listdir(project)):
    if name in KEPT_IN_PLACE:
        continue
    os.rename(os.path.join(project, name), os.path.join(keep, name))
    moved.append(name)
print(json.dumps({"project": project, "saved_in": keep, "moved": moved}))
