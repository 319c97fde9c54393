"""gunicorn's access and error logs redacted as the app's log is (service/privacy.py).

No token travels in a URL any more, but a client may still put one there (`?token=`, `?access_token=`),
and a buyer's e-mail can sit in a path: every line is rendered, then redacted, before it is written.
Client addresses stay (the phone pattern leaves IPv4 addresses alone), so the log still says who called.
"""

from __future__ import annotations

import os

from gunicorn.config import Config
from gunicorn.glogging import Logger

from service.privacy import RedactingFilter, secrets_of


class RedactingLogger(Logger):
    """`logger_class` in config/gunicorn.conf.py."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        redacting = RedactingFilter(secrets_of({k: v for k, v in os.environ.items() if k.startswith("RB_")}))
        for log in (self.access_log, self.error_log):
            for handler in log.handlers:
                if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                    handler.addFilter(redacting)
