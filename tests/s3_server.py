"""moto's S3 app in its own process, answering one request at a time.

`moto_server` serves requests on threads, and moto checks a conditional PUT
(``If-None-Match: *``, which delta-rs commits rely on) and writes the object in two steps
without a lock: two concurrent commits of the same table version can both succeed and one
is silently lost (seen here: 14 of 15 concurrent appends survived). Real S3 makes the
conditional PUT atomic. Serving one request at a time (HTTP/1.0, no keep-alive, so no
client can hold the server) gives the tests that guarantee.

    python tests/s3_server.py HOST PORT
"""

import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
