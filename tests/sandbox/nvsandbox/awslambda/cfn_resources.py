"""The Lambda resource types of templates/serverless.yml that moto's CloudFormation does not create,
and the function properties it drops. Sources: the CloudFormation resource provider schemas (as
cfn-lint ships them: cfnlint/data/schemas/providers/us-east-1.json -> resources/*.json) and the
Lambda API reference.

- AWS::Lambda::Url: properties TargetFunctionArn (required, createOnly), AuthType (required:
  AWS_IAM | NONE), InvokeMode (BUFFERED | RESPONSE_STREAM), Qualifier (createOnly), Cors; primary
  identifier FunctionArn; read-only attributes FunctionArn and FunctionUrl. Handlers call
  CreateFunctionUrlConfig / UpdateFunctionUrlConfig / DeleteFunctionUrlConfig, so the URL is the one
  GetFunctionUrlConfig answers.
- AWS::Lambda::EventInvokeConfig: FunctionName, Qualifier (both required, createOnly),
  MaximumRetryAttempts (0..2), MaximumEventAgeInSeconds (60..21600), DestinationConfig
  (OnSuccess/OnFailure.Destination); handlers PutFunctionEventInvokeConfig /
  UpdateFunctionEventInvokeConfig / DeleteFunctionEventInvokeConfig; primary identifier
  FunctionName + Qualifier.
- AWS::Lambda::Function: moto's model drops `Architectures` (one of x86_64 | arm64, default
  x86_64: CreateFunction `Architectures`) and `LoggingConfig` (LogGroup, LogFormat); both kept, so
  GetFunction answers what the stack declared.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

_AUTH_TYPES = ("AWS_IAM", "NONE")
_INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")


def _backend(account_id: str, region: str):
    from moto.awslambda.models import lambda_backends

    return lambda_backends[account_id][region]


def _invalid(message: str) -> Exception:
    from moto.awslambda.exceptions import InvalidParameterValueException

    return InvalidParameterValueException(message)


class CfnFunctionUrl(CloudFormationModel):
    __module__ = "sandbox.awslambda_ext"  # moto's model metaclass wants a dotted module

    def __init__(self, account_id: str, region: str, function_arn: str, url: str) -> None:
        self.account_id, self.region, self.function_arn, self.url = account_id, region, function_arn, url

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @property
    def physical_resource_id(self) -> str:
        return self.function_arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionArn", "FunctionUrl")

    def get_cfn_attribute(self, attr: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attr == "FunctionArn":
            return self.function_arn
        if attr == "FunctionUrl":
            return self.url
        raise UnformattedGetAttTemplateException()

    @staticmethod
    def _config(props: dict[str, Any]) -> dict[str, Any]:
        auth = props.get("AuthType")
        if auth not in _AUTH_TYPES:
            raise _invalid(f"AuthType must be one of {', '.join(_AUTH_TYPES)}, not {auth!r}")
        mode = props.get("InvokeMode", "BUFFERED")
        if mode not in _INVOKE_MODES:
            raise _invalid(f"InvokeMode must be one of {', '.join(_INVOKE_MODES)}, not {mode!r}")
        config: dict[str, Any] = {"AuthType": auth, "InvokeMode": mode}
        if props.get("Cors"):
            config["Cors"] = props["Cors"]
        return config

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnFunctionUrl:
        props = cloudformation_json.get("Properties") or {}
        target = props.get("TargetFunctionArn")
        if not target:
            raise _invalid("TargetFunctionArn is required")
        url = _backend(account_id, region_name).create_function_url_config(target, cls._config(props))
        return cls(account_id, region_name, url.function.function_arn, url.url)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: CfnFunctionUrl,
        new_resource_name: str,
        cloudformation_json: dict,
        account_id: str,
        region_name: str,
    ) -> CfnFunctionUrl:
        props = cloudformation_json.get("Properties") or {}
        if props.get("TargetFunctionArn") not in (None, original_resource.function_arn):
            # createOnlyProperties: a new target is a new URL (replacement).
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        _backend(account_id, region_name).update_function_url_config(original_resource.function_arn, cls._config(props))
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            _backend(account_id, region_name).delete_function_url_config(self.function_arn)
        except Exception:  # noqa: BLE001  (the function went first: its URL went with it)
            pass


class CfnEventInvokeConfig(CloudFormationModel):
    __module__ = "sandbox.awslambda_ext"

    def __init__(self, function_name: str, qualifier: str) -> None:
        self.function_name, self.qualifier = function_name, qualifier

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @property
    def physical_resource_id(self) -> str:
        return f"{self.function_name}|{self.qualifier}"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @staticmethod
    def _config(props: dict[str, Any]) -> dict[str, Any]:
        config = {k: props[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds") if k in props}
        for key in config:
            config[key] = int(config[key])
        age = config.get("MaximumEventAgeInSeconds")
        if age is not None and not 60 <= age <= 21600:
            raise _invalid("MaximumEventAgeInSeconds must be between 60 and 21600")
        if "DestinationConfig" in props:
            config["DestinationConfig"] = props["DestinationConfig"]
        return config

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnEventInvokeConfig:
        props = cloudformation_json.get("Properties") or {}
        name, qualifier = props.get("FunctionName"), props.get("Qualifier")
        if not name or not qualifier:
            raise _invalid("FunctionName and Qualifier are required")
        backend = _backend(account_id, region_name)
        backend.put_function_event_invoke_config(name, cls._config(props))
        return cls(backend.get_function(name).function_name, qualifier)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: CfnEventInvokeConfig,
        new_resource_name: str,
        cloudformation_json: dict,
        account_id: str,
        region_name: str,
    ) -> CfnEventInvokeConfig:
        props = cloudformation_json.get("Properties") or {}
        backend = _backend(account_id, region_name)
        fn = backend.get_function(original_resource.function_name)
        fn.event_invoke_config = []
        backend.put_function_event_invoke_config(original_resource.function_name, cls._config(props))
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            _backend(account_id, region_name).delete_function_event_invoke_config(self.function_name)
        except Exception:  # noqa: BLE001  (already gone with its function)
            pass


def patch_function_properties() -> None:
    """Keep Architectures and LoggingConfig from the template (moto's model drops them)."""
    from moto.awslambda.models import LambdaFunction

    original_create = LambdaFunction.create_from_cloudformation_json.__func__
    original_update = LambdaFunction.update_from_cloudformation_json.__func__

    def keep(fn: Any, props: dict[str, Any]) -> None:
        arch = props.get("Architectures") or ["x86_64"]
        if not isinstance(arch, list) or len(arch) != 1 or arch[0] not in ("x86_64", "arm64"):
            raise _invalid(f"Architectures must be one of [x86_64] or [arm64], not {arch!r}")
        fn.architectures = list(arch)
        if "LoggingConfig" in props:
            fn.logging_config = dict(props["LoggingConfig"])

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
        fn = original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        keep(fn, cloudformation_json.get("Properties") or {})
        return fn

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):  # type: ignore[no-untyped-def]
        fn = original_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        keep(fn, cloudformation_json.get("Properties") or {})
        return fn

    original_configuration = LambdaFunction.get_configuration

    def get_configuration(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        out = original_configuration(self, *args, **kwargs)
        if getattr(self, "logging_config", None):
            out["LoggingConfig"] = self.logging_config
        return out

    LambdaFunction.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign]
    LambdaFunction.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]


def patch_url_config_status() -> None:
    """GetFunctionUrlConfig answers HTTP 200 (Lambda API reference, GetFunctionUrlConfig: "If the
    action is successful, the service sends back an HTTP 200 response"); moto answers 201."""
    from moto.awslambda.responses import LambdaResponse

    original = LambdaResponse.get_function_url_config

    def get_function_url_config(self):  # type: ignore[no-untyped-def]
        _, headers, body = original(self)
        return 200, {**headers, "status": 200}, body

    LambdaResponse.get_function_url_config = get_function_url_config  # type: ignore[method-assign]


def install() -> None:
    # Defining the classes registers them (moto finds CloudFormationModel subclasses); this
    # reference keeps the import from being dropped as unused.
    assert CfnFunctionUrl.cloudformation_type() and CfnEventInvokeConfig.cloudformation_type()
    patch_function_properties()
    patch_url_config_status()
