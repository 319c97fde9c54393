"""Print every buyer notice in the given locales, to read them as a buyer would.

Usage: .venv/bin/python scripts/show_notices.py [locale[=Area/Zone] ...]
Default: zh-CN, zh-HK, ja, ar and de-DE, each in its own time zone. The facts are the
sample contexts of tests/notice_contexts.py (one return of EUR 49.90 through its lifecycle).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.notifiers.render import render_notice
from tests.notice_contexts import FULL_CONTEXTS

DEFAULTS = ["zh-CN=Asia/Shanghai", "zh-HK=Asia/Hong_Kong", "ja=Asia/Tokyo", "ar=Asia/Riyadh", "de-DE=Europe/Berlin"]
ISSUED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def main(arguments: list[str]) -> None:
    for argument in arguments or DEFAULTS:
        tag, _, zone = argument.partition("=")
        print(f"===== {tag} ({zone or 'UTC'})")
        for kind, context in FULL_CONTEXTS.items():
            notice = render_notice(kind, context, tag, zone or None, ISSUED)
            print(f"\n[{kind}] {notice['subject']}")
            for paragraph in notice["body"].split("\n\n"):
                print(f"  {paragraph}")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
