"""``connectionpool-webhook``: ``serve`` the webhook, make ``certs``, print the rules' ``schema``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from webhook import __version__, certs, connectionpool
from webhook.settings import Settings


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    """One option per Settings field; each defaults to its WEBHOOK_* environment variable."""
    for name, info in Settings.model_fields.items():
        env = Settings.env_name(name)
        default = info.default
        shown = "none" if default is None else default
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=os.environ.get(env),
            metavar=name.split("_")[-1].upper(),
            help=f"{info.description} [env {env}; default {shown}]",
        )


def _settings(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Settings:
    values = {name: getattr(args, name) for name in Settings.model_fields if getattr(args, name) is not None}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
        parser.error(problems)


def serve_settings(argv: list[str]) -> Settings:
    """Settings from ``serve`` options (and the environment), exactly as ``connectionpool-webhook serve`` reads them."""
    args = build_parser().parse_args(["serve", *argv])
    return _settings(args, args.parser)


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from webhook.server import serve  # noqa: PLC0415 - keeps `certs` and `schema` free of server imports

    serve(_settings(args, parser))


def _certs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if not args.dns_name and not args.ip:
        parser.error("give at least one --dns-name or --ip")
    if args.days < 1:
        parser.error("--days must be at least 1")
    try:
        certs.generate(Path(args.out_dir), args.dns_name, args.ip, args.days)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {certs.CA_FILE}, {certs.CERT_FILE} and {certs.KEY_FILE} to {args.out_dir}")


def _schema(_args: argparse.Namespace, _parser: argparse.ArgumentParser) -> None:
    json.dump(connectionpool.openapi_schema(), sys.stdout, indent=2)
    print()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connectionpool-webhook", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTPS admission webhook server")
    _add_serve_options(serve)
    serve.set_defaults(run=_serve, parser=serve)

    make = commands.add_parser("certs", help="write a CA and a serving certificate signed by it")
    make.add_argument("--out-dir", required=True, help="directory for ca.crt, tls.crt and tls.key")
    make.add_argument("--dns-name", action="append", default=[], metavar="NAME",
                      help="DNS name for the certificate, repeatable (e.g. connectionpool-webhook.webhooks.svc)")
    make.add_argument("--ip", action="append", default=[], metavar="ADDR", help="IP address SAN, repeatable")
    make.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    make.set_defaults(run=_certs, parser=make)

    schema = commands.add_parser("schema", help="print the ConnectionPool rules as an OpenAPI v3 schema")
    schema.set_defaults(run=_schema, parser=schema)
    return parser


def main(argv: list[str] | None = None) -> Any:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args, args.parser)
