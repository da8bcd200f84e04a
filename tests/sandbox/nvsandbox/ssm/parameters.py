"""SSM Parameter Store rules moto 5.2.5 does not enforce, and a moto gap:

- parameter tiers: an Advanced parameter is never written back as Standard; Standard values are
  at most 4 KB, Advanced at most 8 KB;
- parameter types: an overwrite never changes a parameter's type (HierarchyTypeMismatchException);
- DescribeParameters pages of MaxResults items.

THE SANDBOX RULE: a rule AWS documents, the sandbox enforces; a behaviour AWS leaves undocumented,
the sandbox plays at its worst case for the tool. Each rule below names its source.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# SSM parameter tiers
# Source: botocore ssm model, PutParameterRequest.Tier documentation: "You can change a standard
# parameter to an advanced parameter any time. But you can't revert an advanced parameter to a
# standard parameter." and PutParameterRequest.Value: "Standard parameters have a value limit of
# 4 KB. Advanced parameters have a value limit of 8 KB."; Systems Manager user guide, "Managing
# parameter tiers". AWS's answers (ValidationException), as reported from real accounts:
#   downgrade: "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from
#              the advanced-parameter tier to the standard-parameter tier. If necessary, you can
#              delete the advanced parameter and recreate it as a standard parameter."
#   too big:   "Standard tier parameters support a maximum parameter value of 4096 characters. ..."
# Undocumented, played at its worst case: a PutParameter without Tier on an Advanced parameter. The
# Tier doc says a request without a tier gets the account's default tier (Standard unless changed),
# so the sandbox treats it as a downgrade and refuses it. A caller that must keep the parameter
# Advanced says Tier=Advanced (or Intelligent-Tiering), which works whatever AWS does.

STANDARD_MAX, ADVANCED_MAX = 4096, 8192
DOWNGRADE_MESSAGE = (
    "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
    "advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the "
    "advanced parameter and recreate it as a standard parameter."
)
TIERS_DOC = "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
STANDARD_TOO_BIG = (
    "Standard tier parameters support a maximum parameter value of 4096 characters. To create a "
    "larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more "
    f"information, see {TIERS_DOC}"
)
ADVANCED_TOO_BIG = (
    "Advanced tier parameters support a maximum parameter value of 8192 characters. For more "
    f"information, see {TIERS_DOC}"
)


def effective_tier(requested: str | None, current: str | None, value: str, default: str = "Standard") -> str:
    """The tier a PutParameter lands in, or raise ValueError with AWS's message."""
    size = len(value.encode("utf-8"))  # "4 KB": bytes, the stricter reading for non-ASCII values
    tier = requested or default
    if tier == "Intelligent-Tiering":
        tier = "Advanced" if size > STANDARD_MAX or current == "Advanced" else "Standard"
    if current == "Advanced" and tier == "Standard":
        raise ValueError(DOWNGRADE_MESSAGE)
    if tier == "Standard" and size > STANDARD_MAX:
        raise ValueError(STANDARD_TOO_BIG)
    if size > ADVANCED_MAX:
        raise ValueError(ADVANCED_TOO_BIG)
    return tier


# ---------------------------------------------------------------------------------------------
# SSM parameter types
# Source: botocore ssm model, PutParameter errors include HierarchyTypeMismatchException: "Parameter
# Store doesn't support changing a parameter type in a hierarchy. For example, you can't change a
# parameter from a String type to a SecureString type. You must create a new, unique parameter."
# The model does not say which changes outside a hierarchy AWS lets through: the worst case for the
# tool is played, every overwrite that names another type is refused (delete, then create).

TYPE_CHANGE_MESSAGE = (
    "Parameter Store doesn't support changing a parameter type in a hierarchy. For example, you "
    "can't change a parameter from a String type to a SecureString type. You must create a new, "
    "unique parameter."
)


def type_change_error(current_type: str | None, requested_type: str | None) -> str | None:
    """AWS's message when an overwrite would change the parameter's type, else None."""
    if current_type and requested_type and current_type != requested_type:
        return TYPE_CHANGE_MESSAGE
    return None


def _hierarchy_type_mismatch(message: str):
    from moto.ssm.exceptions import SSMException  # JSON-protocol error with AWS's code

    return SSMException("HierarchyTypeMismatchException", message)


def patch_ssm_tiers() -> None:
    from moto.ssm.exceptions import ValidationException
    from moto.ssm.models import SimpleSystemManagerBackend

    if getattr(SimpleSystemManagerBackend, "_sb_tiers", False):
        return
    original = SimpleSystemManagerBackend.put_parameter

    def put_parameter(
        self,
        name,
        description,
        value,
        parameter_type,
        allowed_pattern,
        keyid,
        overwrite,
        tags,
        data_type,
        tier,
        policies,
    ):
        versions = self._parameters.get(name) if name in self._parameters else None
        current = versions[-1] if versions else None
        if current is not None and overwrite:
            mismatch = type_change_error(current.parameter_type, parameter_type)
            if mismatch:
                raise _hierarchy_type_mismatch(mismatch)
        if value and not (current is not None and not overwrite):  # an existing one without overwrite: moto's error
            try:
                tier = effective_tier(
                    tier,
                    current.tier if current is not None else None,
                    value,
                    getattr(self, "default_parameter_tier", None) or "Standard",
                )
            except ValueError as e:
                raise ValidationException(str(e)) from e
        return original(
            self,
            name,
            description,
            value,
            parameter_type,
            allowed_pattern,
            keyid,
            overwrite,
            tags,
            data_type,
            tier,
            policies,
        )

    SimpleSystemManagerBackend.put_parameter = put_parameter
    SimpleSystemManagerBackend._sb_tiers = True


def patch_describe_parameters_page_size() -> None:
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
                "Member must have value less than or equal to 50"
            )
        token = int((self._get_param("NextToken") or "0").strip() or 0)
        result = self.ssm_backend.describe_parameters(self._get_param("Filters"), self._get_param("ParameterFilters"))
        page = result[token : token + size]
        response = {"Parameters": [p.describe_response_object(False) for p in page]}
        if token + size < len(result):
            response["NextToken"] = str(token + size)
        return responses.ActionResult(response)

    responses.SimpleSystemManagerResponse.describe_parameters = describe_parameters
    responses.SimpleSystemManagerResponse._sb_page_size = True
