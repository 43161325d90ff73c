"""Alembic for operators, configured from code: `python -m hub.store [--url URL] COMMAND ...`.

    python -m hub.store current                       # which revision the database is at
    python -m hub.store upgrade head                  # what the hub does by itself at start-up
    python -m hub.store --url postgresql://hub@db/hub upgrade head --sql   # the SQL, for a DBA
    python -m hub.store history
    python -m hub.store revision --rev-id 0002 -m "add ..." --autogenerate  # for developers

Every Alembic command is available, with Alembic's own arguments. The database is --url, else
HUB_DATABASE_URL, else sqlite:///var/hub.db.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic.config import CommandLine

from hub.store.engine import alembic_config


def main(argv: Sequence[str] | None = None) -> None:
    cli = CommandLine(prog="python -m hub.store")
    cli.parser.add_argument("--url", help="database URL (default: $HUB_DATABASE_URL, else sqlite:///var/hub.db)")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("a command is needed, e.g. current, upgrade head, history")
    if not options.quiet:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        logging.getLogger("alembic").setLevel(logging.INFO)
    cfg = alembic_config(options.url)
    cfg.cmd_opts = options  # makes -x url=... and the other options visible to env.py
    cli.run_cmd(cfg, options)


if __name__ == "__main__":
    main()
