"""CloudFormation stack updates as AWS runs them: create-only properties mean replacement, and a
custom-named resource cannot be replaced (what an `update` of the notebook product meets).

Sources:
- CloudFormation resource provider schemas, `createOnlyProperties`: "a property that can only be
  specified at creation; changing it requires replacement" (CloudFormation CLI, resource type
  schema). cfn-lint ships the schemas (cfnlint/data/schemas/providers/<region>.json ->
  resources/<hash>.json); the sandbox reads them there (cloudformation/handlers.py, also used for handler
  permissions). For AWS::SageMaker::NotebookInstance they are DirectInternetAccess, KmsKeyId,
  NotebookInstanceName, PlatformIdentifier, SecurityGroupIds, SubnetId.
- CloudFormation user guide, "Name type" (aws-properties-name.html): "You can't perform an update that
  causes a custom-named resource to be replaced. If you must replace the resource, specify a new name."
  The stack event's reason, as AWS words it (knowledge-center/cloudformation-custom-name):
  "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename
  <name> and update the stack again." The update fails and the stack rolls back
  (UPDATE_ROLLBACK_COMPLETE); nothing in the stack changes.

moto 5.2.5 runs every property change as an update (or replaces the resource under the same name).
`install()` wraps moto's Stack.update: before moto touches a resource, each resource present in both
templates (same logical id and type) is compared on its create-only properties, resolved with the old
and the new parameter values. If one changes while the resource keeps a custom name (a create-only
`...Name` property given in both templates with the same value), the update is refused: the stack
records UPDATE_FAILED / UPDATE_ROLLBACK_COMPLETE events with AWS's reason and keeps its template,
parameters and resources; `last_update_error(stack)` gives the reason (Service Catalog's record
error, sc_state.update_pp).

What the sandbox cannot decide: a value that depends on another resource's attribute (Fn::GetAtt, a
resource Ref) is compared as written; intrinsic functions beyond Ref, Fn::Sub, Fn::If, Fn::Join,
Fn::Select, Fn::Equals/Not/And/Or and Condition are compared as written.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

REASON = (
    "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
    "Rename {name} and update the stack again."
)


@functools.lru_cache(maxsize=512)
def create_only_properties(region: str, resource_type: str) -> tuple[str, ...]:
    """Top-level create-only property names of a resource type's schema (empty when unknown)."""
    from nvsandbox.cloudformation import handlers

    schema = handlers.schema(region, resource_type)
    out = []
    for pointer in schema.get("createOnlyProperties") or []:
        parts = pointer.split("/")
        if len(parts) >= 3 and parts[1] == "properties" and parts[2] not in out:
            out.append(parts[2])
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# a small resolver: parameter values into property values


def parameter_values(template: dict, given: dict[str, Any]) -> dict[str, Any]:
    """The value each parameter has in a stack: given, else the template's Default; list types split."""
    out: dict[str, Any] = {}
    for key, spec in (template.get("Parameters") or {}).items():
        if key in given:
            value = given[key]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            continue
        ptype = str(spec.get("Type", "String"))
        if isinstance(value, str) and (ptype.startswith("List<") or ptype == "CommaDelimitedList"):
            value = [v.strip() for v in value.split(",")] if value else []
        out[key] = value if isinstance(value, list) else str(value)
    return out


class _Unresolved(Exception):
    pass


def _resolve(value: Any, params: dict, conds: dict, template: dict) -> Any:
    if isinstance(value, list):
        return [_resolve(v, params, conds, template) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref" and isinstance(arg, str) and arg in params:
            return params[arg]
        if fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            ok = _condition(arg[0], params, conds, template)
            if ok is not None:
                chosen = arg[1] if ok else arg[2]
                return _resolve(chosen, params, conds, template)
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
            if isinstance(text, str):
                extra = {k: _resolve(v, params, conds, template) for k, v in (extra or {}).items()}

                def sub(m: re.Match) -> str:
                    name = m.group(1)
                    got = extra.get(name, params.get(name))
                    if got is None or not isinstance(got, (str, list)):
                        return m.group(0)
                    return ",".join(got) if isinstance(got, list) else got

                text = re.sub(r"\$\{([^}!]+)\}", sub, text)
                return {"Fn::Sub": text} if re.search(r"\$\{(?!AWS::)[^}!]+\}", text) else text
        if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = _resolve(arg[1], params, conds, template)
            if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                return str(arg[0]).join(parts)
        if fn == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
            items = _resolve(arg[1], params, conds, template)
            try:
                return items[int(arg[0])]
            except (TypeError, ValueError, IndexError, KeyError):
                pass
    return {k: _resolve(v, params, conds, template) for k, v in value.items()}


def _condition(spec: Any, params: dict, conds: dict, template: dict) -> bool | None:
    """A condition's value, or None when the sandbox cannot tell."""
    if isinstance(spec, str):
        if spec in conds:
            return conds[spec]
        body = (template.get("Conditions") or {}).get(spec)
        conds[spec] = None  # a cycle answers "cannot tell"
        conds[spec] = None if body is None else _condition(body, params, conds, template)
        return conds[spec]
    if not isinstance(spec, dict) or len(spec) != 1:
        return None
    ((fn, arg),) = spec.items()
    if fn == "Condition":
        return _condition(arg, params, conds, template)
    if fn == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
        a, b = (_resolve(x, params, conds, template) for x in arg)
        if isinstance(a, dict) or isinstance(b, dict):
            return None
        return str(a) == str(b)
    if fn == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
        inner = _condition(arg[0], params, conds, template)
        return None if inner is None else not inner
    if fn in ("Fn::And", "Fn::Or") and isinstance(arg, list):
        vals = [_condition(x, params, conds, template) for x in arg]
        if None in vals:
            return None
        return all(vals) if fn == "Fn::And" else any(vals)
    return None


def resolved_properties(template: dict, logical_id: str, given: dict[str, Any]) -> dict:
    res = (template.get("Resources") or {}).get(logical_id) or {}
    params = parameter_values(template, given)
    props = res.get("Properties") or {}
    out = _resolve(props, params, {}, template)
    # AWS::NoValue removes the property
    return {k: v for k, v in out.items() if v != {"Ref": "AWS::NoValue"}}


# ---------------------------------------------------------------------------------------------
# the decision


def replacements(region: str, old_template: dict, old_params: dict, new_template: dict, new_params: dict) -> list[dict]:
    """Resources the update replaces: [{logical_id, type, properties (changed create-only), name}],
    `name` being the custom name the resource keeps (None when CloudFormation generates it or the
    name changes)."""
    old_res = old_template.get("Resources") or {}
    new_res = new_template.get("Resources") or {}
    out = []
    for lid, spec in new_res.items():
        old = old_res.get(lid)
        if not isinstance(spec, dict) or not isinstance(old, dict) or old.get("Type") != spec.get("Type"):
            continue
        create_only = create_only_properties(region, str(spec.get("Type")))
        if not create_only:
            continue
        before = resolved_properties(old_template, lid, old_params)
        after = resolved_properties(new_template, lid, new_params)
        changed = [
            p
            for p in create_only
            if json.dumps(before.get(p), sort_keys=True, default=str)
            != json.dumps(after.get(p), sort_keys=True, default=str)
        ]
        if not changed:
            continue
        name = None
        for p in create_only:
            if p.endswith("Name") and p not in changed and isinstance(after.get(p), str):
                name = after[p]
                break
        out.append({"logical_id": lid, "type": spec.get("Type"), "properties": changed, "name": name})
    return out


def update_refusal(
    region: str, old_template: dict, old_params: dict, new_template: dict, new_params: dict
) -> tuple[str, str] | None:
    """(logical id, AWS's reason) when the update must replace a custom-named resource."""
    for r in replacements(region, old_template, old_params, new_template, new_params):
        if r["name"] is not None:
            return r["logical_id"], REASON.format(name=r["name"])
    return None


def last_update_error(stack: Any) -> str | None:
    return getattr(stack, "_sb_update_error", None)


def install() -> None:
    from moto.cloudformation.models import Stack

    from nvsandbox.cloudformation.stacks import load_template

    if getattr(Stack, "_sb_cfn_update", False):
        return
    original = Stack.update

    def update(self, template, role_arn=None, parameters=None, tags=None):
        self._sb_update_error = None
        try:
            new_template = load_template(template)
        except Exception:  # noqa: BLE001  (moto's own parse reports it)
            new_template = None
        if isinstance(new_template, dict):
            old_params = dict(self.parameters or {})
            new_params = dict(parameters or old_params)
            refusal = update_refusal(self.region_name, self.template_dict, old_params, new_template, new_params)
            if refusal is not None:
                lid, reason = refusal
                self._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
                self._add_stack_event(
                    "UPDATE_ROLLBACK_IN_PROGRESS",
                    resource_status_reason=f"The following resource(s) failed to update: [{lid}]. ",
                )
                self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
                self.status = "UPDATE_ROLLBACK_COMPLETE"
                self._sb_update_error = reason
                return
        # AWS runs an accepted UpdateStack asynchronously: a resource that fails makes the stack roll
        # back to its previous template and parameters (UPDATE_ROLLBACK_COMPLETE; CloudFormation user
        # guide, "Stack status codes": UPDATE_ROLLBACK_COMPLETE "Successful return of one or more stacks
        # to a previous working state after a failed stack update"). moto raises from inside the
        # request instead, with the new template already stored and a status that still says
        # *_COMPLETE: put the previous state back and record the rollback.
        rm = self.resource_map
        saved = (self.template, self.template_dict, self.description)
        saved_rm = (
            rm._template,
            getattr(rm, "input_parameters", None),
            rm._resource_json_map,
            set(rm._parsed_resources),
        )
        try:
            original(self, template, role_arn=role_arn, parameters=parameters, tags=tags)
        except Exception as e:  # noqa: BLE001
            self.template, self.template_dict, self.description = saved
            rm._template, rm.input_parameters, rm._resource_json_map, before = saved_rm
            for key in [k for k in rm._parsed_resources if k not in before]:
                del rm._parsed_resources[key]
            try:
                rm.load_mapping()
                rm.load_parameters()
                rm.load_conditions()
            except Exception:  # noqa: BLE001
                pass
            reason = f"{type(e).__name__}: {e}"
            self._add_stack_event(
                "UPDATE_ROLLBACK_IN_PROGRESS",
                resource_status_reason=f"The following resource(s) failed to update: {reason}",
            )
            self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
            self.status = "UPDATE_ROLLBACK_COMPLETE"
            self._sb_update_error = reason

    Stack.update = update
    Stack._sb_cfn_update = True
    _patch_tag_only_update()


# A tag change is an update: UpdateStack with Tags replaces the stack's tag set and propagates it to
# the resources (botocore cloudformation UpdateStackInput.Tags), and CloudFormation runs it even when
# template and parameters are unchanged (measured on real accounts and reported by tools built on it:
# envato/stack_master#302, aws-cloudformation/cloudformation-coverage-roadmap#552). moto answers "No
# updates are to be performed." whenever template and parameters match, ignoring the tags.
def _patch_tag_only_update() -> None:
    from moto.cloudformation.responses import CloudFormationResponse

    if getattr(CloudFormationResponse, "_sb_tag_update", False):
        return
    original = CloudFormationResponse._validate_different_update

    def _validate_different_update(self, incoming_params, stack_body, old_stack):
        sent = {t["Key"]: t["Value"] for t in self._get_param("Tags", []) or []}
        if sent and sent != dict(old_stack.tags or {}):
            return None
        return original(self, incoming_params, stack_body, old_stack)

    CloudFormationResponse._validate_different_update = _validate_different_update
    CloudFormationResponse._sb_tag_update = True
