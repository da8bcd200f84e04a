"""Fixes for moto 5.2.5 gaps the sandbox needs (see shared/reference.md):

- template URLs (`TemplateURL`, `LoadTemplateFromURL`) in both S3 styles: virtual-hosted
  `https://<bucket>.s3.amazonaws.com/<key>`, `https://<bucket>.s3.<region>.amazonaws.com/<key>`
  and path style `https://s3.amazonaws.com/<bucket>/<key>`, `https://s3.<region>.amazonaws.com/...`,
  `https://s3-<region>.amazonaws.com/...`, loopback endpoints and `s3://bucket/key`;
- a resource that fails to create: CREATE_FAILED + ROLLBACK_COMPLETE instead of an HTTP 500;
- deleting a stack whose IAM role has managed policies attached: AWS::IAM::ManagedPolicy gets a real
  CloudFormation delete (detach from every role/user/group, delete versions, delete), and a role
  deleted by CloudFormation detaches what is still attached.
"""
from __future__ import annotations

import json
from urllib.parse import unquote, urlparse

import yaml


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of a template URL in any S3 style."""
    u = urlparse(url)
    if u.scheme == "s3":
        return u.netloc, unquote(u.path.lstrip("/"))
    host = (u.hostname or "").lower()
    path = unquote(u.path.lstrip("/"))
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    if not loopback:
        for marker in (".s3.", ".s3-"):
            if marker in host:  # virtual-hosted: <bucket>.s3[.-]<region>.amazonaws.com
                return host[: host.index(marker)], path
        if not (host.startswith("s3.") or host.startswith("s3-")):
            return host.split(".")[0], path  # unknown host: first label is the bucket
    bucket, _, key = path.partition("/")
    return bucket, key


def fetch_s3_url(url: str, account_id: str) -> str:
    """The object a template URL names, as CloudFormation / Service Catalog would read it. Raises
    strict_rules.TemplateUrlError when the URL addresses another Region than the bucket's (the
    legacy global endpoint outside us-east-1 included): see strict_rules.py for the source."""
    from moto.s3.models import s3_backends

    import strict_rules

    bucket, key = split_s3_url(url)
    backend = s3_backends[account_id]["aws"]
    found = backend.buckets.get(bucket)
    if found is not None:
        strict_rules.check_template_url(url, getattr(found, "region_name", None))
    obj = backend.get_object(bucket, key)
    if obj is None:
        raise KeyError(f"{bucket}/{key}")
    return obj.value.decode("utf-8")


def load_template(body: str) -> dict:
    """Parse a JSON or YAML CloudFormation template (short-form intrinsic tags kept as dicts)."""
    try:
        return json.loads(body)
    except ValueError:
        pass
    from moto.cloudformation.utils import yaml_tag_constructor

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", yaml_tag_constructor)
    return yaml.load(body, Loader=Loader)


def _patch_template_urls() -> None:
    import moto.cloudformation.models as cfm
    import moto.cloudformation.responses as cfr
    import moto.cloudformation.utils as cfu

    def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
        import strict_rules
        from moto.cloudformation.exceptions import ValidationError

        try:
            return fetch_s3_url(template_url, account_id)
        except strict_rules.TemplateUrlError as e:
            raise ValidationError(message=str(e))

    cfu.get_stack_from_s3_url = get_stack_from_s3_url
    cfm.get_stack_from_s3_url = get_stack_from_s3_url
    cfr.get_stack_from_s3_url = get_stack_from_s3_url


def _patch_iam_delete() -> None:
    from moto.iam.models import ManagedPolicy, Role, iam_backends
    from moto.utilities.utils import get_partition

    def detach_everywhere(backend, policy_arn: str) -> None:
        for coll in (backend.roles.values(), backend.users.values(), backend.groups.values()):
            for entity in list(coll):
                if policy_arn in entity.managed_policies:
                    entity.managed_policies[policy_arn].detach_from(entity)

    @classmethod
    def mp_delete(cls, resource_name, cloudformation_json, account_id, region_name):
        backend = iam_backends[account_id][get_partition(region_name)]
        arn = resource_name
        if arn not in backend.managed_policies:
            for p in backend.managed_policies.values():
                if p.name == resource_name:
                    arn = p.arn
                    break
        if arn in backend.managed_policies:
            detach_everywhere(backend, arn)
            del backend.managed_policies[arn]

    ManagedPolicy.delete_from_cloudformation_json = mp_delete

    original_role_delete = Role.delete_from_cloudformation_json.__func__

    @classmethod
    def role_delete(cls, resource_name, cloudformation_json, account_id, region_name):
        backend = iam_backends[account_id][get_partition(region_name)]
        for role in list(backend.roles.values()):
            if role.name == resource_name:
                for arn, policy in list(role.managed_policies.items()):
                    policy.detach_from(role)
        return original_role_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    Role.delete_from_cloudformation_json = role_delete


def _patch_failed_creation() -> None:
    """A resource that fails to create fails the stack, as on AWS: CREATE_FAILED for the resource
    with its reason, then ROLLBACK_IN_PROGRESS / ROLLBACK_COMPLETE for the stack. moto 5.2.5 lets
    the exception escape instead: the CreateStack call answers 500 with the stack half made."""
    from moto.cloudformation import models, parsing

    original_getitem = parsing.ResourceMap.__getitem__

    def getitem(self, key):  # type: ignore[no-untyped-def]
        try:
            return original_getitem(self, key)
        except Exception:
            # The innermost resource raises first: that is the one that failed.
            if getattr(self, "_sandbox_failed", None) is None:
                self._sandbox_failed = key
            raise

    original_create = models.Stack.create_resources

    def create_resources(self):  # type: ignore[no-untyped-def]
        try:
            original_create(self)
        except Exception as e:  # noqa: BLE001  (any failure of moto's resource code)
            failed = getattr(self.resource_map, "_sandbox_failed", None) or "Unknown"
            resource = (self.template_dict.get("Resources") or {}).get(failed) or {}
            if getattr(e, "code", None) and getattr(e, "message", None):
                # an AWS error of the resource's service: worded as CloudFormation words it
                import strict_rules

                service = (resource.get("Type") or "AWS::Unknown::X").split("::")[1].capitalize()
                reason = strict_rules.cfn_failure_reason(e, service)
            else:
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            self.events.append(
                models.Event(
                    stack_id=self.stack_id,
                    stack_name=self.name,
                    logical_resource_id=failed,
                    physical_resource_id="",
                    resource_type=resource.get("Type", "Unknown"),
                    resource_status="CREATE_FAILED",
                    resource_status_reason=reason,
                    resource_properties=None,
                )
            )
            self._add_stack_event(
                "ROLLBACK_IN_PROGRESS",
                resource_status_reason=f"The following resource(s) failed to create: [{failed}]. Rollback requested by user.",
            )
            self.status = "ROLLBACK_COMPLETE"
            self._add_stack_event("ROLLBACK_COMPLETE")

    parsing.ResourceMap.__getitem__ = getitem
    models.Stack.create_resources = create_resources


def _patch_inline_policy_json() -> None:
    """A role's inline policy made by CloudFormation (Policies: [...]) is kept by moto as a dict and
    GetRolePolicy answers its Python repr; AWS answers the JSON document (URL-encoded)."""
    from moto.iam.models import Role

    original = Role.put_policy
    if getattr(Role, "_sb_policy_json", False):
        return

    def put_policy(self, policy_name, policy_json):
        if not isinstance(policy_json, str):
            policy_json = json.dumps(policy_json)
        return original(self, policy_name, policy_json)

    Role.put_policy = put_policy
    Role._sb_policy_json = True


def _patch_describe_parameters_page_size() -> None:
    """DescribeParameters returns up to MaxResults items a page (botocore ssm model,
    DescribeParametersRequest.MaxResults: "The maximum number of items to return for this call",
    1-50); moto 5.2.5 answers 10 whatever is asked. The page size AWS uses without MaxResults is not
    documented: 10 is kept (the smaller page, the worst case for the caller)."""
    from moto.ssm import responses

    if getattr(responses.SimpleSystemManagerResponse, "_sb_page_size", False):
        return

    def describe_parameters(self):
        asked = self._get_param("MaxResults")
        size = int(asked) if asked else 10
        if not 1 <= size <= 50:
            from moto.ssm.exceptions import ValidationException

            raise ValidationException(
                f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint: "
                "Member must have value less than or equal to 50")
        token = int((self._get_param("NextToken") or "0").strip() or 0)
        result = self.ssm_backend.describe_parameters(self._get_param("Filters"), self._get_param("ParameterFilters"))
        page = result[token:token + size]
        response = {"Parameters": [p.describe_response_object(False) for p in page]}
        if token + size < len(result):
            response["NextToken"] = str(token + size)
        return responses.ActionResult(response)

    responses.SimpleSystemManagerResponse.describe_parameters = describe_parameters
    responses.SimpleSystemManagerResponse._sb_page_size = True


def install() -> None:
    _patch_describe_parameters_page_size()
    _patch_inline_policy_json()
    _patch_template_urls()
    _patch_iam_delete()
    _patch_failed_creation()
