#!/usr/bin/env python3
"""The decide-runner adapter of the Python client (clients/python): each
configuration is saved as a bootstrap file and handed to a LocalDecider with
no server (client=None), which signs d2 ids with a random key; every request
is answered by its decide().

    python3 -m venv --system-site-packages /tmp/lotty-py    # Debian's /usr/bin/python3
    /tmp/lotty-py/bin/pip install ./clients/python
    node test/vectors/decide-runner.mjs -- \
      /tmp/lotty-py/bin/python test/vectors/adapters/python-client.py
"""

import json
import os
import re
import sys
import tempfile
import time
import uuid

from lotty_client import LocalDecider

directory = tempfile.mkdtemp(prefix="lotty-vectors-")
signing_key = (str(uuid.uuid4()), os.urandom(32))
current_version = None
decider = None

for line in sys.stdin:
    message = json.loads(line)
    configuration = message["configuration"]
    request = message["request"]
    if configuration["version"] != current_version:
        current_version = configuration["version"]
        path = os.path.join(directory, re.sub(r"[^\w.-]", "_", current_version) + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "lottyLocalConfiguration": 1,
                    "savedAt": int(time.time() * 1000),
                    "version": current_version,
                    "format": configuration["format"],
                    "source": configuration,
                },
                f,
            )
        decider = LocalDecider(None, bootstrap_file=path, signing_key=signing_key)
        if not decider.wait_ready(0):
            sys.exit(f"the bootstrap file of {current_version} was not loaded")
    decisions = decider.decide(
        request["subjectId"], request.get("attributes"), request.get("flagKeys", [])
    )
    sys.stdout.write(json.dumps([d.to_json() for d in decisions]) + "\n")
    sys.stdout.flush()
