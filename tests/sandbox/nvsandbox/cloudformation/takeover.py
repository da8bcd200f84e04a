"""CloudFormation rules an in-place takeover of the blog sample's deployment meets (`bootstrap --adopt`
updates stacks whose exports other stacks import, and IAM roles and buckets it did not create), on top
of moto 5.2.5:

1. `ListImports` (moto: "not implemented"). CloudFormation API reference, ListImports: "Lists all
   stacks that are importing an exported output value" (botocore `cloudformation` model: input
   ExportName (required), NextToken; output Imports (list of stack names), NextToken). An unknown
   export answers ValidationError "Export '<name>' does not exist."; an export nobody imports
   answers ValidationError "Export '<name>' is not imported by any stack." (the API reference does
   not document the empty case; AWS CLI users report this error rather than an empty list, and it
   is the worst case for the tool, which must read it as "no importer").
2. An export in use cannot be changed or removed. CloudFormation user guide, "Get exported outputs
   from a deployed CloudFormation stack" (using-cfn-stack-exports.html): "You can't modify or
   remove an output value that is referenced by another stack." AWS knowledge center
   "cloudformation-stack-export-name-error": the update fails with "Export EXPORT_NAME cannot be
   updated as it is in use by STACK_NAME" and rolls back. moto updates the stack anyway and keeps
   stale entries in ListExports: here the update is refused before any resource changes (events
   UPDATE_ROLLBACK_IN_PROGRESS/COMPLETE, the template, parameters and resources kept), and after
   a successful update ListExports is rebuilt from the stack's new outputs.
   What counts as "changed" when the sandbox cannot compute the new value before applying: the
   export's Value expression (parameters resolved) differs from the deployed one, or it names a
   resource (Ref/GetAtt) the update replaces or removes. A different expression that AWS would
   resolve to the same value is refused here (worst case for the tool).
3. `AWS::IAM::Role` updates apply Policies, AssumeRolePolicyDocument, Tags, MaxSessionDuration and
   Description (moto applies Description only, and reads MaxSessionDuration from the wrong key).
   CloudFormation resource schema AWS::IAM::Role (cfn-lint data/schemas): none of these is in
   `createOnlyProperties` (only Path, RoleName), so all are updated in place. As AWS's handler does,
   inline policies the template declared before and no longer declares are deleted, and policies
   put on the role outside CloudFormation are left alone; the same for tag keys.
4. `AWS::S3::Bucket` update without BucketName (a generated name): moto reads
   properties["BucketName"] for Tags and fails with KeyError (HTTP 500). Schema AWS::S3::Bucket:
   BucketName is create-only, so an update without it keeps the bucket: the stored name is used.
6. A resource kept by an update stays a resource of the stack. moto stores None for a kept resource
   whose type has no update handler (e.g. AWS::Logs::LogGroup: the stack loses it) and lists
   resources without their logical ID or type. CloudFormation API reference, ListStackResources:
   "Returns descriptions of all resources of the specified stack", each with LogicalResourceId,
   PhysicalResourceId, ResourceType (required members of StackResourceSummary in the botocore model).
5. DescribeStacks `Outputs[].ExportName`: only on outputs that declare an Export (moto gives it to
   any output whose value equals an exported value). API reference, Output: "ExportName: The name
   of the export associated with the output."
"""

from __future__ import annotations

import json
import re
from typing import Any

IN_USE = "Export {name} cannot be updated as it is in use by {importers}"


# ---------------------------------------------------------------------------------------------
# who imports what


def _walk_imports(node: Any, out: list) -> None:
    if isinstance(node, dict):
        if len(node) == 1 and "Fn::ImportValue" in node:
            out.append(node["Fn::ImportValue"])
            return
        for v in node.values():
            _walk_imports(v, out)
    elif isinstance(node, list):
        for v in node:
            _walk_imports(v, out)


def imported_names(stack: Any) -> set[str]:
    """Export names a stack's template imports (Fn::ImportValue, resolved with the stack's
    parameters and pseudo parameters; an argument the sandbox cannot resolve is left out)."""
    from nvsandbox.cloudformation import update as stack_update

    template = getattr(stack, "template_dict", None) or {}
    found: list = []
    _walk_imports(template.get("Resources") or {}, found)
    _walk_imports(template.get("Outputs") or {}, found)
    params = stack_update.parameter_values(template, dict(getattr(stack, "parameters", None) or {}))
    params.setdefault("AWS::StackName", stack.name)
    params.setdefault("AWS::Region", stack.region_name)
    params.setdefault("AWS::AccountId", stack.account_id)
    names = set()
    for arg in found:
        value = stack_update._resolve(arg, params, {}, template)
        if isinstance(value, str):
            names.add(value)
    return names


def _live_stacks(backend: Any) -> list:
    return [s for s in backend.stacks.values() if not str(s.status).startswith("DELETE_COMPLETE")]


def importers(backend: Any, export_name: str, exclude_stack_id: str | None = None) -> list[str]:
    """Names of the live stacks that import `export_name`."""
    return sorted(
        s.name for s in _live_stacks(backend) if s.stack_id != exclude_stack_id and export_name in imported_names(s)
    )


# ---------------------------------------------------------------------------------------------
# the export-in-use decision


def _declared_exports(template: dict, params: dict) -> dict[str, Any]:
    """{export name: value expression resolved with params} of a template's outputs."""
    from nvsandbox.cloudformation import update as stack_update

    out = {}
    for spec in (template.get("Outputs") or {}).values():
        if not isinstance(spec, dict) or not isinstance(spec.get("Export"), dict):
            continue
        name = stack_update._resolve(spec["Export"].get("Name"), params, {}, template)
        if isinstance(name, str):
            out[name] = stack_update._resolve(spec.get("Value"), params, {}, template)
    return out


def _resources_named(value: Any) -> set[str]:
    """Logical ids a value expression reads (Ref, Fn::GetAtt, ${X} / ${X.Attr} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for fn, arg in value.items():
            if fn == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif fn == "Fn::GetAtt":
                if isinstance(arg, list) and arg:
                    found.add(str(arg[0]))
                elif isinstance(arg, str):
                    found.add(arg.split(".")[0])
            elif fn == "Fn::Sub":
                text = arg if isinstance(arg, str) else (arg[0] if isinstance(arg, list) and arg else "")
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", str(text)))
            found |= _resources_named(arg)
    elif isinstance(value, list):
        for v in value:
            found |= _resources_named(v)
    return found


def export_refusal(backend: Any, stack: Any, new_template: dict, new_params: dict) -> str | None:
    """AWS's reason when the update would change or remove an export another stack imports."""
    from nvsandbox.cloudformation import update as stack_update

    old_template = stack.template_dict or {}
    pseudo = {"AWS::StackName": stack.name, "AWS::Region": stack.region_name, "AWS::AccountId": stack.account_id}
    old_p = dict(stack_update.parameter_values(old_template, dict(stack.parameters or {})), **pseudo)
    new_p = dict(stack_update.parameter_values(new_template, new_params), **pseudo)
    before = _declared_exports(old_template, old_p)
    after = _declared_exports(new_template, new_p)
    replaced = {
        r["logical_id"]
        for r in stack_update.replacements(
            stack.region_name, old_template, dict(stack.parameters or {}), new_template, new_params
        )
    }
    new_resources = new_template.get("Resources") or {}
    old_resources = old_template.get("Resources") or {}
    for name, old_value in before.items():
        users = importers(backend, name, exclude_stack_id=stack.stack_id)
        if not users:
            continue
        changed = name not in after or json.dumps(after[name], sort_keys=True, default=str) != json.dumps(
            old_value, sort_keys=True, default=str
        )
        if not changed:
            for lid in _resources_named(old_value):
                old_r, new_r = old_resources.get(lid), new_resources.get(lid)
                if isinstance(old_r, dict) and (
                    lid in replaced or not isinstance(new_r, dict) or new_r.get("Type") != old_r.get("Type")
                ):
                    changed = True
        if changed:
            return IN_USE.format(name=name, importers=", ".join(users))
    return None


def _refresh_exports(backend: Any, stack: Any) -> None:
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        backend.exports.pop(name, None)
    for export in stack.exports:
        backend.exports[export.name] = export


# ---------------------------------------------------------------------------------------------
# install


def _install_stack_update() -> None:
    from moto.cloudformation.models import Stack, cloudformation_backends

    from nvsandbox.cloudformation.stacks import load_template

    if getattr(Stack, "_sb_adopt_rules", False):
        return
    inner = Stack.update  # cfn_update's wrapper (replacements of custom-named resources)

    def update(self, template, role_arn=None, parameters=None, tags=None):
        self._sb_update_error = None
        backend = cloudformation_backends[self.account_id][self.region_name]
        try:
            new_template = load_template(template)
        except Exception:  # noqa: BLE001  (moto's own parse reports it)
            new_template = None
        if isinstance(new_template, dict):
            reason = export_refusal(backend, self, new_template, dict(parameters or self.parameters or {}))
            if reason is not None:
                self._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
                self._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
                self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
                self.status = "UPDATE_ROLLBACK_COMPLETE"
                self._sb_update_error = reason
                return
        inner(self, template, role_arn=role_arn, parameters=parameters, tags=tags)
        if self.status == "UPDATE_COMPLETE":
            _refresh_exports(backend, self)

    Stack.update = update
    Stack._sb_adopt_rules = True

    earlier = Stack.outputs  # sc_cfn's: none for a deleted or rolled-back stack (not evaluated)

    def outputs(self):
        if earlier.fget(self) is None:
            return None
        declared = {}
        for key, spec in ((self.template_dict or {}).get("Outputs") or {}).items():
            if isinstance(spec, dict) and isinstance(spec.get("Export"), dict):
                declared[key] = True
        by_value = {e.value: e.name for e in self.exports}
        out = [
            {
                "OutputKey": o.key,
                "OutputValue": o.value,
                "Description": o.description,
                "ExportName": by_value.get(o.value) if o.key in declared else None,
            }
            for o in self.output_map.values()
            if o
        ]
        return out or None

    Stack.outputs = property(outputs)


def _install_list_imports() -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    if hasattr(CloudFormationResponse, "list_imports"):
        return

    def list_imports(self):
        name = self._get_param("ExportName")
        backend = self.cloudformation_backend
        if not name or name not in backend.exports:
            raise ValidationError(message=f"Export '{name}' does not exist.")
        found = importers(backend, name)
        if not found:
            raise ValidationError(message=f"Export '{name}' is not imported by any stack.")
        return ActionResult({"Imports": found, "NextToken": None})

    CloudFormationResponse.list_imports = list_imports


def _install_resource_listing() -> None:
    import moto.cloudformation.parsing as parsing
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    if getattr(parsing, "_sb_adopt_rules", False):
        return
    update = parsing.parse_and_update_resource

    def parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):
        updated = update(logical_id, resource_json, resources_map, account_id, region_name)
        if updated is None:  # no update handler: the resource is kept as it is
            return resources_map._parsed_resources.get(logical_id)
        return updated

    parsing.parse_and_update_resource = parse_and_update_resource
    parsing._sb_adopt_rules = True

    def list_stack_resources(self):
        stack, _ = self.cloudformation_backend.list_stack_resources(self._get_param("StackName"))
        declared = (stack.template_dict or {}).get("Resources") or {}
        summaries = []
        for lid, resource in stack.resource_map._parsed_resources.items():
            if resource is None or isinstance(resource, str) or lid not in declared:
                continue
            summaries.append(
                {
                    "ResourceStatus": "CREATE_COMPLETE" if stack.status.startswith("CREATE") else "UPDATE_COMPLETE",
                    "LogicalResourceId": lid,
                    "LastUpdatedTimestamp": stack.creation_time,
                    "PhysicalResourceId": getattr(resource, "physical_resource_id", "") or "",
                    "ResourceType": declared[lid].get("Type", ""),
                }
            )
        return ActionResult({"StackResourceSummaries": summaries})

    CloudFormationResponse.list_stack_resources = list_stack_resources


def _install_role_update() -> None:
    from moto.iam.models import Role, iam_backends
    from moto.utilities.utils import get_partition

    if getattr(Role, "_sb_adopt_rules", False):
        return
    create, update = Role.create_from_cloudformation_json.__func__, Role.update_from_cloudformation_json.__func__

    def declared(props: dict) -> tuple[list[str], list[str]]:
        names = [p.get("PolicyName") for p in props.get("Policies") or [] if isinstance(p, dict)]
        keys = [t.get("Key") for t in props.get("Tags") or [] if isinstance(t, dict)]
        return [n for n in names if n], [k for k in keys if k]

    def create_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        role = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        role._sb_cfn_policies, role._sb_cfn_tags = declared(cloudformation_json.get("Properties") or {})
        return role

    def update_cfn(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        props = cloudformation_json.get("Properties") or {}
        role = update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        if role is None or role is not original_resource and getattr(role, "name", None) != original_resource.name:
            return role  # a replacement: created from the new properties already
        backend = iam_backends[account_id][get_partition(region_name)]
        old_policies = getattr(original_resource, "_sb_cfn_policies", [])
        old_tags = getattr(original_resource, "_sb_cfn_tags", [])
        new_policies, new_tags = declared(props)
        trust = props.get("AssumeRolePolicyDocument")
        if trust is not None:
            backend.update_assume_role_policy(role.name, trust if isinstance(trust, str) else json.dumps(trust))
        role.max_session_duration = int(props.get("MaxSessionDuration", 3600))
        role.description = props.get("Description", "")
        for p in props.get("Policies") or []:
            doc = p["PolicyDocument"]
            backend.put_role_policy(role.name, p["PolicyName"], doc if isinstance(doc, str) else json.dumps(doc))
        for name in old_policies:
            if name not in new_policies and name in role.policies:
                backend.delete_role_policy(role.name, name)
        gone = [k for k in old_tags if k not in new_tags]
        if gone:
            backend.untag_role(role.name, gone)
        if props.get("Tags"):
            backend.tag_role(role.name, props["Tags"])
        role._sb_cfn_policies, role._sb_cfn_tags = new_policies, new_tags
        return role

    Role.create_from_cloudformation_json = classmethod(create_cfn)
    Role.update_from_cloudformation_json = classmethod(update_cfn)
    Role._sb_adopt_rules = True


def _install_bucket_update() -> None:
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket, "_sb_adopt_rules", False):
        return
    update = FakeBucket.update_from_cloudformation_json.__func__

    def update_cfn(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        props = cloudformation_json.get("Properties") or {}
        if "BucketName" not in props:
            cloudformation_json = dict(cloudformation_json, Properties=dict(props, BucketName=original_resource.name))
        return update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)

    FakeBucket.update_from_cloudformation_json = classmethod(update_cfn)
    FakeBucket._sb_adopt_rules = True


def install() -> None:
    _install_stack_update()
    _install_list_imports()
    _install_resource_listing()
    _install_role_update()
    _install_bucket_update()
