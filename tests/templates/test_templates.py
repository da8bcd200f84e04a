"""Checks on templates/ and parameters/: linters, the output/parameter contract the Rust code relies
on, and the idle auto-stop script of sm-notebook.yml, extracted from the template (its only source)
and run against a fake Jupyter server with a stub stop command.

    python -m pytest tests/templates

cfn-lint and checkov are looked up next to the running Python, then on PATH (CFN_LINT / CHECKOV
override). checkov pins old boto3/networkx/packaging, so it usually lives in a venv of its own;
the checkov test is skipped when it is not found.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
PARAMETERS = ROOT / "parameters"
TEMPLATE_FILES = ["s3-iam-config.yml", "service-catalog.yml", "sm-notebook.yml", "serverless.yml"]
SCRIPT_LIMIT = 16384  # AWS: per lifecycle script, base64-encoded


# ---------------------------------------------------------------------------------------- loading


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns short-form intrinsics (!Sub, !Ref, ...) into their long form."""


def _intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load(name: str) -> dict:
    return yaml.load((TEMPLATES / name).read_text(), Loader=CfnLoader)


def on_start_sub() -> str:
    """The Fn::Sub string of the lifecycle configuration's OnStart script."""
    props = load("sm-notebook.yml")["Resources"]["IdleStopLifecycleConfig"]["Properties"]
    content = props["OnStart"][0]["Content"]
    return content["Fn::Base64"]["Fn::Sub"]


def render_on_start(timeout_minutes: int) -> str:
    """The script as CloudFormation renders it (Fn::Sub semantics) for one IdleTimeoutMinutes."""
    text = on_start_sub()
    names = set(re.findall(r"\$\{([^!}][^}]*)\}", text))
    assert names == {"IdleTimeoutMinutes"}, f"unexpected Fn::Sub variables: {names}"
    text = text.replace("${IdleTimeoutMinutes}", str(timeout_minutes))
    return text.replace("${!", "${")


def idle_script() -> str:
    text = render_on_start(60)
    match = re.search(r"<<'PY'\n(.*?)\nPY\n", text, re.S)
    assert match, "the on-start script must embed the Python between <<'PY' and PY"
    return match.group(1) + "\n"


# ---------------------------------------------------------------------------------------- linters


def _tool(env_var: str, name: str) -> str | None:
    if os.environ.get(env_var):
        return os.environ[env_var]
    sibling = Path(sys.executable).parent / name
    if sibling.exists():
        return str(sibling)
    return shutil.which(name)


def test_cfn_lint_clean():
    cfn_lint = _tool("CFN_LINT", "cfn-lint")
    if cfn_lint is None:
        pytest.skip("cfn-lint not installed")
    files = [str(TEMPLATES / f) for f in TEMPLATE_FILES]
    proc = subprocess.run([cfn_lint, *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_clean():
    checkov = _tool("CHECKOV", "checkov")
    if checkov is None:
        pytest.skip("checkov not installed")
    proc = subprocess.run(
        [checkov, "-d", str(TEMPLATES), "--framework", "cloudformation", "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
    )
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r["results"].get("failed_checks", [])]
    assert not failed, [(c["check_id"], c["resource"], c["file_path"]) for c in failed]
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    assert sum(r["summary"]["passed"] for r in reports) > 0
    skipped = [c for r in reports for c in r["results"].get("skipped_checks", [])]
    for check in skipped:  # every skip carries its reason
        assert (check.get("check_result", {}).get("suppress_comment") or "").strip(), check["check_id"]


# ----------------------------------------------------------------------------------- the contract


def test_outputs_and_exports_the_rust_code_reads():
    s3 = load("s3-iam-config.yml")
    assert list(s3["Parameters"]) == ["SageMakerNotebookInstanceRoleName"]
    assert s3["Parameters"]["SageMakerNotebookInstanceRoleName"]["Default"] == "SageMakerNotebookInstanceRole"
    exports = {k: v["Export"]["Name"]["Fn::Sub"] for k, v in s3["Outputs"].items()}
    assert exports == {
        "S3BucketName": "${AWS::StackName}-Bucket-Name",
        "S3BucketArn": "${AWS::StackName}-Bucket-ARN",
        "NotebookInstanceRoleArn": "${AWS::StackName}-SageMakerNotebookInstanceRole-ARN",
    }
    sc = load("service-catalog.yml")
    assert set(sc["Outputs"]) == {"PortfolioId", "ProductId", "ProductName", "LaunchRoleArn", "ProvisioningArtifactIds"}
    assert {
        "NotebookInstanceType",
        "S3IAMConfigStackName",
        "ServiceCatalogTemplateName",
        "S3BucketName",
        "UserIAMPrincipal",
        "PortfolioName",
        "ProductName",
        "ProductTemplateVersion",
    } == set(sc["Parameters"])
    nb = load("sm-notebook.yml")
    assert set(nb["Outputs"]) == {"NotebookInstanceName", "NotebookInstanceArn", "NotebookUserName"}
    props = nb["Resources"]["Notebook"]["Properties"]
    assert props["NotebookInstanceName"] == {"Fn::Sub": "${NotebookUserName}-Notebook"}
    assert {"Key": "Owner", "Value": {"Ref": "NotebookUserName"}} in props["Tags"]


def test_no_fixed_iam_or_bucket_names():
    """Two deployments in one account: every name is derived from the stack or left to CloudFormation."""
    for name in TEMPLATE_FILES:
        for logical_id, res in load(name)["Resources"].items():
            props = res.get("Properties", {})
            for key in ("RoleName", "BucketName", "PolicyName", "ManagedPolicyName"):
                if key in props:
                    assert "AWS::StackName" in json.dumps(props[key]), f"{name} {logical_id}.{key} is fixed"


def test_user_iam_principal_pattern():
    pattern = load("service-catalog.yml")["Parameters"]["UserIAMPrincipal"]["AllowedPattern"]
    good = [
        "arn:aws:iam::123456789012:role/Admin",
        "arn:aws:iam::123456789012:user/a.b@c",
        "arn:aws-us-gov:iam::123456789012:group/path/Team",
        "arn:aws:iam::123456789012:role/a/b/R+1",
    ]
    bad = [
        "arn:aws:sts::123456789012:assumed-role/Admin/me",
        "arn:aws:iam::12345:role/Admin",
        "<input_your_iam_principal_arn>",
        "arn:aws:iam::123456789012:policy/P",
    ]
    for arn in good:
        assert re.fullmatch(pattern, arn), arn
    for arn in bad:
        assert not re.fullmatch(pattern, arn), arn


def test_notebook_user_name_limits():
    p = load("sm-notebook.yml")["Parameters"]["NotebookUserName"]
    assert p["MaxLength"] == 54 and p["Default"] == "Demo-User"
    for ok in ["Demo-User", "a", "a--b", "A" * 54]:
        assert re.fullmatch(p["AllowedPattern"], ok)
    for bad in ["-a", "a-", "a_b", "a.b", ""]:
        assert not re.fullmatch(p["AllowedPattern"], bad)
    # <user>-idlestop and <user>-Notebook stay within SageMaker's 63 characters
    assert len("A" * 54 + "-idlestop") <= 63 and len("A" * 54 + "-Notebook") <= 63


def test_parameter_files_match_templates():
    for file, template in [
        ("s3-iam-params.json", "s3-iam-config.yml"),
        ("service-catalog-params.json", "service-catalog.yml"),
    ]:
        entries = json.loads((PARAMETERS / file).read_text())
        assert all(set(e) == {"ParameterKey", "ParameterValue"} for e in entries), file
        keys = [e["ParameterKey"] for e in entries]
        assert set(keys) <= set(load(template)["Parameters"]), file
    sc = {
        e["ParameterKey"]: e["ParameterValue"]
        for e in json.loads((PARAMETERS / "service-catalog-params.json").read_text())
    }
    assert sc["S3BucketName"] == "<input_your_bucket_name>"
    assert sc["UserIAMPrincipal"] == "<input_your_iam_principal_arn>"


# ------------------------------------------------------------------------- the on-start script


def test_on_start_script_within_aws_limits():
    for minutes in (0, 60, 1440):
        encoded = base64.b64encode(render_on_start(minutes).encode()).decode()
        assert len(encoded) < SCRIPT_LIMIT
    assert len(render_on_start(1440)) < SCRIPT_LIMIT
    # the script must not fetch anything: a notebook without direct internet has no network
    assert not re.search(r"\b(curl|wget|pip install|yum|dnf)\b", render_on_start(60))


def test_on_start_script_is_valid_bash_and_python():
    script = render_on_start(60)
    proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    compile(idle_script(), "notebook-vend-idle-stop", "exec")


def _prefix_before_first_write(script: str) -> str:
    """The script up to its first file write: safe to run here (it would write to /etc)."""
    lines = script.splitlines()
    first_write = next(i for i, line in enumerate(lines) if line.startswith("cat >"))
    return "\n".join(lines[:first_write]) + "\n"


def test_on_start_exits_at_once_when_idle_stop_is_off():
    off = subprocess.run(
        ["bash", "-c", _prefix_before_first_write(render_on_start(0)) + "echo REACHED"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert off.returncode == 0 and "off" in off.stdout and "REACHED" not in off.stdout
    on = subprocess.run(
        ["bash", "-c", _prefix_before_first_write(render_on_start(60)) + "echo REACHED"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert on.returncode == 0 and "REACHED" in on.stdout
    # with the timer on, the timeout reaches the service unchanged
    assert "Environment=IDLE_TIMEOUT_MINUTES=$TIMEOUT" in render_on_start(60)


# ------------------------------------------------------------ idle logic vs a fake Jupyter API


def stamp(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - seconds_ago)) + ".123456Z"


def kernel(kid: str, state: str, ago: float) -> dict:
    return {"id": kid, "name": "python3", "execution_state": state, "connections": 1, "last_activity": stamp(ago)}


class FakeJupyter:
    """A tiny Jupyter server API: GET /api/{sessions,kernels,terminals} from fixtures."""

    def __init__(self):
        self.fixtures = {"/api/sessions": [], "/api/kernels": [], "/api/terminals": []}
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                fake.requests.append(self.path)
                body = json.dumps(fake.fixtures.get(self.path, {"message": "not found"})).encode()
                self.send_response(200 if self.path in fake.fixtures else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jupyter():
    fake = FakeJupyter()
    yield fake
    fake.close()


@pytest.fixture
def sandbox(tmp_path):
    """The extracted script, a resource-metadata.json and a stub stop command that logs its args."""
    script = tmp_path / "idle-stop.py"
    script.write_text(idle_script())
    meta = tmp_path / "resource-metadata.json"
    meta.write_text(
        json.dumps(
            {
                "ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/demo-user-notebook",
                "ResourceName": "Demo-User-Notebook",
            }
        )
    )
    stops = tmp_path / "stops.log"
    stub = tmp_path / "stub_stop.py"
    stub.write_text(
        textwrap.dedent(f"""\
        import sys
        with open({str(stops)!r}, "a") as f:
            f.write(" ".join(sys.argv[1:]) + "\\n")
        """)
    )
    return {"script": script, "meta": meta, "stops": stops, "stub": stub, "dir": tmp_path}


def run_idle_stop(
    sandbox,
    api: str,
    timeout_minutes: int,
    since_ago: float = 7200,
    command: str | None = "stub",
    path: str | None = None,
):
    env = {
        **os.environ,
        "IDLE_TIMEOUT_MINUTES": str(timeout_minutes),
        "IDLE_STOP_API": api,
        "IDLE_STOP_METADATA": str(sandbox["meta"]),
        "IDLE_STOP_SINCE": str(time.time() - since_ago),
    }
    if command == "stub":
        env["IDLE_STOP_COMMAND"] = f"{sys.executable} {sandbox['stub']}"
    else:
        env.pop("IDLE_STOP_COMMAND", None)
    if path is not None:
        env["PATH"] = path
    proc = subprocess.run([sys.executable, str(sandbox["script"])], env=env, capture_output=True, text=True, timeout=30)
    stops = sandbox["stops"].read_text().splitlines() if sandbox["stops"].exists() else []
    return proc, stops


def test_busy_kernel_is_not_idle(jupyter, sandbox):
    jupyter.fixtures["/api/kernels"] = [kernel("k1", "busy", 3 * 3600)]
    proc, stops = run_idle_stop(sandbox, jupyter.url, 60)
    assert proc.returncode == 0, proc.stderr
    assert stops == []


def test_busy_kernel_seen_only_through_sessions_is_not_idle(jupyter, sandbox):
    jupyter.fixtures["/api/sessions"] = [{"id": "s1", "path": "a.ipynb", "kernel": kernel("k9", "busy", 3 * 3600)}]
    proc, stops = run_idle_stop(sandbox, jupyter.url, 60)
    assert proc.returncode == 0, proc.stderr
    assert stops == []


def test_old_last_activity_is_idle_and_stops_this_instance(jupyter, sandbox):
    k = kernel("k1", "idle", 2 * 3600)
    jupyter.fixtures["/api/kernels"] = [k]
    jupyter.fixtures["/api/sessions"] = [{"id": "s1", "path": "a.ipynb", "kernel": k}]
    jupyter.fixtures["/api/terminals"] = [{"name": "1", "last_activity": stamp(90 * 60)}]
    proc, stops = run_idle_stop(sandbox, jupyter.url, 60)
    assert proc.returncode == 0, proc.stderr
    assert stops == ["Demo-User-Notebook"]
    assert set(jupyter.requests) == {"/api/sessions", "/api/kernels", "/api/terminals"}


def test_recent_kernel_activity_is_not_idle(jupyter, sandbox):
    jupyter.fixtures["/api/kernels"] = [kernel("k1", "idle", 2 * 3600), kernel("k2", "idle", 5 * 60)]
    proc, stops = run_idle_stop(sandbox, jupyter.url, 60)
    assert proc.returncode == 0, proc.stderr
    assert stops == []


def test_open_terminal_with_recent_activity_is_not_idle(jupyter, sandbox):
    jupyter.fixtures["/api/kernels"] = [kernel("k1", "idle", 2 * 3600)]
    jupyter.fixtures["/api/terminals"] = [{"name": "1", "last_activity": stamp(10 * 60)}]
    proc, stops = run_idle_stop(sandbox, jupyter.url, 60)
    assert proc.returncode == 0, proc.stderr
    assert stops == []


def test_no_sessions_is_idle(jupyter, sandbox):
    proc, stops = run_idle_stop(sandbox, jupyter.url, 60, since_ago=2 * 3600)
    assert proc.returncode == 0, proc.stderr
    assert stops == ["Demo-User-Notebook"]


def test_no_sessions_right_after_start_waits_for_the_timeout(jupyter, sandbox):
    proc, stops = run_idle_stop(sandbox, jupyter.url, 60, since_ago=10 * 60)
    assert proc.returncode == 0, proc.stderr
    assert stops == []


def test_timeout_zero_never_stops(jupyter, sandbox):
    proc, stops = run_idle_stop(sandbox, jupyter.url, 0, since_ago=30 * 24 * 3600)
    assert proc.returncode == 0, proc.stderr
    assert stops == [] and jupyter.requests == []


def test_unreachable_jupyter_never_stops(sandbox):
    proc, stops = run_idle_stop(sandbox, "http://127.0.0.1:9", 60)
    assert proc.returncode == 1
    assert "cannot read the Jupyter API" in proc.stderr
    assert stops == []


def test_default_stop_command_is_the_aws_cli_for_this_instance(jupyter, sandbox):
    bindir = sandbox["dir"] / "bin"
    bindir.mkdir()
    fake_aws = bindir / "aws"
    fake_aws.write_text(f"#!{sys.executable}\n" + sandbox["stub"].read_text())
    fake_aws.chmod(0o755)
    proc, stops = run_idle_stop(
        sandbox, jupyter.url, 60, command=None, path=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    assert proc.returncode == 0, proc.stderr
    assert stops == ["sagemaker stop-notebook-instance --region us-east-1 --notebook-instance-name Demo-User-Notebook"]


# ------------------------------------------------------------------- deploys on plain moto


def test_stacks_create_on_moto():
    """s3-iam-config.yml, then sm-notebook.yml importing its role, create on in-process moto.

    service-catalog.yml is left to the sandbox's end-to-end tests: plain moto skips the
    AWS::ServiceCatalog::* types and then rejects the GetAtt outputs on them.
    """
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        cf = boto3.client("cloudformation", region_name="us-east-1")
        for stack in ("s3-iam-config", "team-b-s3-iam-config"):
            cf.create_stack(
                StackName=stack,
                TemplateBody=(TEMPLATES / "s3-iam-config.yml").read_text(),
                Capabilities=["CAPABILITY_NAMED_IAM"],
            )
            status = cf.describe_stacks(StackName=stack)["Stacks"][0]
            assert status["StackStatus"] == "CREATE_COMPLETE"
        exports = {e["Name"] for e in cf.list_exports()["Exports"]}
        assert "team-b-s3-iam-config-SageMakerNotebookInstanceRole-ARN" in exports
        params = {
            "NotebookUserName": "Alice",
            "SubnetId": "subnet-0abc",
            "SecurityGroupIds": "sg-1,sg-2",
            "KmsKeyId": "alias/team",
            "IdleTimeoutMinutes": "0",
            "S3IAMConfigStackName": "team-b-s3-iam-config",
        }
        for stack, p in (("SC-1", {}), ("SC-2", params)):
            cf.create_stack(
                StackName=stack,
                TemplateBody=(TEMPLATES / "sm-notebook.yml").read_text(),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in p.items()],
            )
            out = {
                o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
            }
            assert set(out) == {"NotebookInstanceName", "NotebookInstanceArn", "NotebookUserName"}
        sm = boto3.client("sagemaker", region_name="us-east-1")
        roles = {
            sm.describe_notebook_instance(NotebookInstanceName=n["NotebookInstanceName"])["RoleArn"]
            for n in sm.list_notebook_instances()["NotebookInstances"]
        }
        assert {r.split("/")[-1] for r in roles} == {
            "s3-iam-config-SageMakerNotebookInstanceRole",
            "team-b-s3-iam-config-SageMakerNotebookInstanceRole",
        }


def test_scheduler_role_starts_and_stops_vended_notebooks_only():
    """The execution role of `schedule`: trusted by Scheduler for this account only, allowed to start
    and stop `*-Notebook` instances (both ARN spellings) and nothing else; named as the Rust code
    builds its ARN (scheduler.rs role_name)."""
    role = load("s3-iam-config.yml")["Resources"]["SchedulerExecutionRole"]["Properties"]
    assert role["RoleName"] == {"Fn::Sub": "${AWS::StackName}-scheduler"}
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["sagemaker:StartNotebookInstance", "sagemaker:StopNotebookInstance"]
    resources = [r["Fn::Sub"] for r in statement["Resource"]]
    assert [r.rsplit("/", 1)[1] for r in resources] == ["*-Notebook", "*-notebook"]
