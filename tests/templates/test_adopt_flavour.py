"""The adopted flavour (templates/adopt-blog/, deployed by `bootstrap --adopt` over the AWS blog
sample's stacks) against the fresh templates and the blog's deployment shape (tests/fixtures/blog).

    python -m pytest tests/templates/test_adopt_flavour.py
"""

from __future__ import annotations

import subprocess

import pytest
import yaml
from test_templates import ROOT, TEMPLATES, CfnLoader, _tool

ADOPTED = TEMPLATES / "adopt-blog"
BLOG = ROOT / "tests" / "fixtures" / "blog" / "templates"
# fresh logical ID -> adopted logical ID (the sample's)
RENAMED = {
    "LaunchRole": "ServiceCatalogExecutionRole",
    "Portfolio": "AppServicesPortfolio",
    "Product": "SageMakerNotebookProduct",
    "PortfolioProductAssociation": "CoreBuildToolsProductAssoc",
    "PortfolioPrincipalAssociation": "UserPortfolioProductAssoc",
    "LaunchRoleConstraint": "CoreBuildToolsProductConstraint",
}
# The sample's fixed-name managed policies: the only resources adoption removes.
REMOVED = {
    "SMNotebookEC2Policy",
    "SMNotebookPolicy",
    "SVCSMExecutionPolicy",
    "SVCLogsExecutionPolicy",
    "SVCEC2KMSExecutionPolicy",
    "SVCS3ExecutionPolicy",
    "SVCIAMExecutionPolicy",
    "SVCCFTExecutionPolicy",
}


def _load(path) -> dict:
    return yaml.load(path.read_text(), Loader=CfnLoader)


def _rename(value):
    """A fresh template's value with logical IDs renamed to the adopted ones."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "Ref" and v in RENAMED:
                v = RENAMED[v]
            elif k == "Fn::GetAtt" and isinstance(v, list) and v[0] in RENAMED:
                v = [RENAMED[v[0]], *v[1:]]
            out[k] = _rename(v)
        return out
    if isinstance(value, list):
        return [_rename(v) for v in value]
    return value


def _policy_documents(template: dict) -> dict:
    """Every IAM policy document of a template, by (logical ID in adopted terms, where)."""
    out = {}
    for lid, res in template["Resources"].items():
        props = res.get("Properties", {})
        lid = RENAMED.get(lid, lid)
        if res["Type"] == "AWS::IAM::Role":
            out[(lid, "AssumeRolePolicyDocument")] = _rename(props.get("AssumeRolePolicyDocument"))
            for p in props.get("Policies", []):
                out[(lid, p["PolicyName"])] = _rename(p["PolicyDocument"])
        elif "PolicyDocument" in props:
            out[(lid, "PolicyDocument")] = _rename(props["PolicyDocument"])
    return out


@pytest.mark.parametrize("name", ["s3-iam-config.yml", "service-catalog.yml"])
def test_iam_policy_documents_equal_the_fresh_flavours(name):
    """A policy change to templates/ must be mirrored in templates/adopt-blog/ (and back)."""
    fresh, adopted = _policy_documents(_load(TEMPLATES / name)), _policy_documents(_load(ADOPTED / name))
    assert fresh, name
    assert set(fresh) == set(adopted), name
    for key in fresh:
        assert fresh[key] == adopted[key], f"{name} {key} differs between the flavours"


def test_adopted_flavour_is_cfn_lint_clean():
    cfn_lint = _tool("CFN_LINT", "cfn-lint")
    if cfn_lint is None:
        pytest.skip("cfn-lint not installed")
    proc = subprocess.run([cfn_lint, *map(str, sorted(ADOPTED.glob("*.yml")))], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["s3-iam-config.yml", "service-catalog.yml"])
def test_keeps_the_samples_logical_ids_types_names_outputs_and_exports(name):
    blog, adopted = _load(BLOG / name), _load(ADOPTED / name)
    assert adopted["Metadata"]["NotebookVend"]["Flavour"] == "adopted-blog"
    for lid, res in blog["Resources"].items():
        if lid in REMOVED:
            assert lid not in adopted["Resources"], lid
            continue
        assert lid in adopted["Resources"], f"{name}: {lid} would be deleted"
        assert adopted["Resources"][lid]["Type"] == res["Type"], lid
        for key in ("RoleName", "Path"):
            if key in res.get("Properties", {}):
                assert adopted["Resources"][lid]["Properties"][key] == res["Properties"][key], (lid, key)
    for key, out in blog["Outputs"].items():
        assert key in adopted["Outputs"], f"{name}: output {key} (export) would move"
        assert adopted["Outputs"][key]["Export"] == out["Export"], key
        assert adopted["Outputs"][key]["Value"] == out["Value"], key
    # What notebook-vend reads from the stacks is there too.
    fresh = _load(TEMPLATES / name)
    assert set(fresh["Outputs"]) <= set(adopted["Outputs"]), name
    assert set(fresh["Parameters"]) <= set(adopted["Parameters"]), name


def test_the_products_original_artifact_comes_first_and_unchanged():
    blog = _load(BLOG / "service-catalog.yml")["Resources"]["SageMakerNotebookProduct"]["Properties"]
    adopted = _load(ADOPTED / "service-catalog.yml")["Resources"]["SageMakerNotebookProduct"]["Properties"]
    original = blog["ProvisioningArtifactParameters"]
    assert len(original) == 1
    first, ours = adopted["ProvisioningArtifactParameters"]
    assert first == {
        "Name": {"Ref": "LegacyArtifactName"},
        "Info": {"LoadTemplateFromURL": {"Fn::Sub": "https://${S3BucketName}.s3.amazonaws.com/${LegacyTemplateName}"}},
    }
    assert original[0]["Info"]["LoadTemplateFromURL"] == {
        "Fn::Sub": "https://${S3BucketName}.s3.amazonaws.com/${ServiceCatalogTemplateName}"
    }
    assert ours["Name"] == {"Ref": "ProductTemplateVersion"}
