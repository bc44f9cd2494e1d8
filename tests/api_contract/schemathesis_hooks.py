"""Loaded by the schemathesis process (`SCHEMATHESIS_HOOKS`): how to send the bodies it cannot
send by itself.

`POST /packages` takes `application/gzip` (a package archive); schemathesis generates it as
binary, so it is sent like `application/octet-stream`, byte for byte.
"""

import schemathesis

schemathesis.serializer.alias("application/gzip", "application/octet-stream")
