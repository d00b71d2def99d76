"""``connectionpool-webhook``: ``serve`` the webhook, make ``certs``, print the rules' ``schema``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from webhook import __version__, certs
from webhook.rules import releases, wording
from webhook.rules.enforcement import Enforcement
from webhook.rules.openapi import openapi
from webhook.rules.ruleset import RuleSet, ruleset
from webhook.serve.settings import Settings
from webhook.tools import check, fix, report
from webhook.tools.policy import objects as policy
from webhook.tools.report import policyreport
from webhook.tools.report.model import DENIED, Problem, Report
from webhook.tools.report.text import problems_text, summary_line

if TYPE_CHECKING:
    from webhook.tools.audit import Audit

# `serve` and `audit` import their wings inside their commands: the server needs FastAPI and uvicorn, `audit` the
# Kubernetes client, and importing them would double the start-up of `check` (which runs in pre-commit hooks, once
# per commit), from 0.21 s to 0.40 s and 0.34 s (best of 15 runs, CONTRIBUTING.md).
ENFORCEMENTS = [mode.value for mode in Enforcement]


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    """One option per Settings field; each defaults to its WEBHOOK_* environment variable."""
    for name, info in Settings.model_fields.items():
        env = Settings.env_name(name)
        default = info.default
        shown = "none" if default is None else str(default).lower() if isinstance(default, bool) else default
        # A bare `--cluster-checks` means true, as a flag does; `--cluster-checks false` still reads a value.
        flag: dict[str, Any] = {"nargs": "?", "const": "true", "metavar": "BOOL"} if info.annotation is bool else {
            "metavar": name.split("_")[-1].upper()}
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=os.environ.get(env),
            help=f"{info.description} [env {env}; default {shown}]",
            **flag,
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
    from webhook.serve.server import serve  # noqa: PLC0415 - start-up time, see the imports above

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


def _schema(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    json.dump(openapi(releases.schema_of(_release(args, parser))), sys.stdout, indent=2)
    print()


def _operator_version_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--operator-version", metavar="VERSION", default=str(releases.DEFAULT),
                        help=f"{what} of this aiven-operator release's ConnectionPool CRD, e.g. v0.38.0 (default: "
                        f"{releases.DEFAULT}; a release between two that changed the CRD takes the older one's)")


def _release(args: argparse.Namespace, parser: argparse.ArgumentParser) -> releases.Release:
    try:
        return releases.parse(args.operator_version)
    except ValueError as exc:
        parser.error(f"--operator-version: {exc}")


def _verdict_options(parser: argparse.ArgumentParser, formats: tuple[str, ...] = report.FORMATS,
                     formats_help: str = "text (kubectl's own lines, the default), json, junit or sarif") -> None:
    """What ``check`` and ``audit`` share: how to print, which Kubernetes wording, how to enforce."""
    parser.add_argument("-o", "--output", choices=formats, default="text", help=formats_help)
    parser.add_argument("--kubernetes-version", metavar="VERSION",
                        help="word the causes as this Kubernetes version's apiserver does, e.g. 1.28 (default: newest)")
    parser.add_argument("--enforcement", choices=ENFORCEMENTS, default="deny",
                        help="deny: exit 1 on a denial (default); warn: report as warnings, exit 0; dryrun: exit 0")
    _operator_version_option(parser, "the rules")


def _rules(args: argparse.Namespace, parser: argparse.ArgumentParser) -> RuleSet:
    try:
        words = wording.for_version(args.kubernetes_version)
    except ValueError as exc:
        parser.error(f"--kubernetes-version: {exc}")
    return ruleset(_release(args, parser), words)


def _finish(found: Report, output: str, exit_zero: bool = False) -> NoReturn:
    _emit(found, report.render(found, output), exit_zero)


def _emit(found: Report, text: str, exit_zero: bool) -> NoReturn:
    """What the run could not read or look at on stderr, ``text`` on stdout, and the exit status."""
    sys.stderr.write(problems_text(found))
    sys.stdout.write(text)
    sys.stdout.flush()
    raise SystemExit(_exit_code(found, exit_zero))


def _exit_code(found: Report, exit_zero: bool) -> int:
    code = found.exit_code()
    return 0 if exit_zero and code == DENIED else code


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.fix and (not args.paths or check.STDIN in args.paths):
        parser.error("--fix writes files in place: give file or directory paths, not stdin")
    if not args.paths and sys.stdin.isatty():
        parser.error("give files or directories to check, or pipe manifests to stdin")
    found, files = check.check_paths(args.paths, _rules(args, parser), Enforcement(args.enforcement),
                                     excludes=args.exclude)
    if args.fix:
        for note in fix.fix_files(files):
            print(note, file=sys.stderr)
    _finish(found, args.output)


def _audit(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from webhook.tools import audit  # noqa: PLC0415 - start-up time, see the imports above

    if args.namespace and args.all_namespaces:
        parser.error("give --namespace or --all-namespaces, not both")
    if args.chunk_size < 1:
        parser.error("--chunk-size must be at least 1")
    if args.apply and args.output not in report.KINDS:
        parser.error("--apply writes the reports to the cluster: give --output policyreport or --output openreports")
    done = audit.audit(_rules(args, parser), Enforcement(args.enforcement), namespace=args.namespace,
                       all_namespaces=args.all_namespaces, kubeconfig=args.kubeconfig, context=args.context,
                       page_size=args.chunk_size, secret_checks=not args.no_secret_checks)
    if args.output in report.KINDS:
        _audit_reports(done, args)
    _finish(done.report, args.output, args.exit_zero)


def _audit_reports(done: Audit, args: argparse.Namespace) -> NoReturn:
    """``audit --output policyreport|openreports``: grade by each namespace's mode, then print the reports, or write
    them (``--apply``: kubectl-like lines and the summary line instead). Prints, and exits."""
    from webhook.kube import ClusterError  # noqa: PLC0415 - start-up time, see the imports above
    from webhook.tools import apply, namespaces  # noqa: PLC0415

    found, connection = done.report, done.connection
    kind = report.KINDS[args.output]
    if connection is not None and not found.problems:
        try:
            modes, warning = namespaces.read_modes(connection, done.scope)
        except ClusterError as exc:
            found.problems.append(Problem(str(exc)))
        else:
            found.modes.update(modes)
            found.notes.extend([warning] if warning else [])
    documents = policyreport.documents(found, kind)
    found.notes.extend(policyreport.notes(documents))
    if not args.apply:
        _emit(found, policyreport.to_yaml(documents), args.exit_zero)
    summary, lines = summary_line(found), []
    if connection is not None and not found.problems:
        applied = apply.apply(connection, kind, documents, done.scope)
        found.problems.extend(Problem(problem) for problem in applied.problems)
        lines = applied.lines
        if applied.problems:
            summary += f"; the {kind.kind}s could not all be written"
    _emit(found, "".join(line + "\n" for line in [*lines, summary]), args.exit_zero)


def _policy(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    try:
        name = policy.valid_name(args.name)
    except ValueError as exc:
        parser.error(f"--name: {exc}")
    try:
        objects = policy.export(args.kubernetes_version, Enforcement(args.enforcement), name,
                                _release(args, parser))
    except ValueError as exc:
        parser.error(f"--kubernetes-version: {exc}")
    sys.stdout.write(policy.to_yaml(objects))


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
    _operator_version_option(schema, "the schema")
    schema.set_defaults(run=_schema, parser=schema)

    check = commands.add_parser(
        "check", help="judge the ConnectionPools in manifests as the webhook would (exit 1 if any is denied)")
    check.add_argument("paths", nargs="*", metavar="PATH",
                       help="files, or directories walked for .yaml/.yml/.json; - or nothing reads stdin")
    _verdict_options(check)
    check.add_argument("--fix", action="store_true", help="write the defaults into the files, changing nothing else")
    check.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                       help="skip files whose path or name matches, repeatable (e.g. 'charts/*/templates/*')")
    check.set_defaults(run=_check, parser=check)

    audit = commands.add_parser(
        "audit", help="judge every ConnectionPool a cluster stores as the webhook would judge it now")
    audit.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    audit.add_argument("--context", help="kubeconfig context to use (default: the current one)")
    audit.add_argument("-n", "--namespace", help="namespace to audit (default: the context's namespace)")
    audit.add_argument("-A", "--all-namespaces", action="store_true", help="audit every namespace")
    audit.add_argument("--chunk-size", type=int, default=500, metavar="N", help="objects per page (default 500)")
    _verdict_options(audit, report.AUDIT_FORMATS,
                     "text (kubectl's own lines, the default), json, junit, sarif, or the cluster's report objects, "
                     "one per namespace: policyreport (wgpolicyk8s.io/v1alpha2) or openreports (openreports.io)")
    audit.add_argument("--apply", action="store_true",
                       help="with -o policyreport|openreports: create or replace each namespace's report in the "
                       "cluster, and delete ours where no ConnectionPool is left")
    audit.add_argument("--no-secret-checks", action="store_true",
                       help="skip the checks that read the Secrets the pools name (a Secret another object controls, "
                       "a missing authSecretRef): no get on secrets needed")
    audit.add_argument("--exit-zero", action="store_true",
                       help="exit 0 even when an object would be denied (2 still means the cluster could not be "
                       "read or the reports not written)")
    audit.set_defaults(run=_audit, parser=audit)

    export = commands.add_parser(
        "policy", help="print the rules as a ValidatingAdmissionPolicy, and defaulting as a MutatingAdmissionPolicy")
    export.add_argument("--kubernetes-version", metavar="VERSION",
                        help="API versions and wording of this Kubernetes version, e.g. 1.28 (default: newest)")
    export.add_argument("--enforcement", choices=ENFORCEMENTS, default="deny",
                        help="validationActions of the binding: deny -> Deny (default), warn -> Warn, dryrun -> Audit")
    _operator_version_option(export, "the rules")
    export.add_argument("--name", default="connectionpool-webhook", metavar="PREFIX",
                        help="name of the policies and their bindings (default: connectionpool-webhook)")
    export.set_defaults(run=_policy, parser=export)
    return parser


def main(argv: list[str] | None = None) -> Any:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args, args.parser)
